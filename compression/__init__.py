"""The compressor library: schedules, training loop, pruning, quantization, summaries."""
