"""Multi-step workflows built from the library parts: post-training quantization, sensitivity
analysis, thinning a checkpoint, compressing to a budget (`auto_*`). Nothing in the library parts
imports them."""
