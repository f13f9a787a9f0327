"""Engines that run a model: PyTorch, onnxruntime and OpenVINO, each behind its own module.

`registry.py` names them (with how to install each); `qdq_onnx.py` writes the torch int8 model
as the QDQ ONNX file that onnxruntime and OpenVINO run; `onnxruntime_engine.py` and
`openvino_engine.py` are the only modules that import those packages, and only when called.
"""
