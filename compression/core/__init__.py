"""The core every other part stands on: errors, registries, parameter names, the checkpoint format.

Nothing here imports a feature (models, pruning, quantization, thinning, schedules, training).
"""
