"""Prediction with a saved run: the Classifier, prediction over files, and ONNX Runtime."""
