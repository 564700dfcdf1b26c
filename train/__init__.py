"""The trainer: corpora, splits, cached features, Keras models, honest evaluation, ONNX export.

Training-time only: nothing under ``serapp/`` may import this package.
"""
