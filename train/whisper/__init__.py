"""A pretrained Whisper encoder for the trainer (issue 29).

- :mod:`train.whisper.ctranslate2_reader`: a CTranslate2 model folder's weights, read with numpy;
- :mod:`train.whisper.encoder`: the encoder rebuilt in Keras 3 with those weights;
- :mod:`train.whisper.embeddings`: its per-layer outputs per clip, cached (``python -m train.whisper.embeddings``);
- :mod:`train.whisper.classifier`: an emotion classifier with the encoder inside, exported whole to ONNX.

Its input is the ``whisper_logmel`` feature kind of the one pipeline (:mod:`serapp.engine.features`).
"""
