"""The engine: audio in, features, ONNX inference, results. No Qt and no TensorFlow in here."""
