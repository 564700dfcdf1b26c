"""A pretrained Whisper encoder for the trainer (issue 29): its CTranslate2 weights, read with numpy
(:mod:`train.whisper.ctranslate2_reader`), and the encoder rebuilt in Keras 3 (:mod:`train.whisper.encoder`).

Its input is the ``whisper_logmel`` feature kind of the one pipeline (:mod:`serapp.engine.features`).
"""
