"""Quantization: activation statistics, range-linear post-training quantization, QAT, real int8,
k-means weight sharing."""
