"""A pretrained Whisper encoder for the trainer (issue 29).

- :mod:`serapp_train.whisper.ctranslate2_reader`: a CTranslate2 model folder's weights, read with numpy;
- :mod:`serapp_train.whisper.encoder`: the encoder rebuilt in Keras 3 with those weights;
- :mod:`serapp_train.whisper.embeddings`: its per-layer outputs per clip, cached
  (``python -m serapp_train.whisper.embeddings``);
- :mod:`serapp_train.whisper.classifier`: an emotion classifier with the encoder inside, exported whole to ONNX.

Its input is the ``whisper_logmel`` feature kind of the one pipeline (:mod:`serapp.engine.features`).
"""
