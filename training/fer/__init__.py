"""Training, evaluation and export of the emotion classifier shipped as models/mycnn.onnx."""

LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
