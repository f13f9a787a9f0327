"""Schedules for the QAT tests."""
from helpers import scheduler_for

QUANTIZER_CLASSES = ["QuantAwareTrainRangeLinearQuantizer", "DorefaQuantizer", "PACTQuantizer", "WRPNQuantizer",
                     "LSQQuantizer"]


def qat_schedule(cls, bits=4, extra="", overrides="", start=0, end=3):
    lines = [f"    {line}" for line in extra.strip().splitlines()]
    if overrides:
        lines.append("    overrides:")
        lines += [f"      {line}" for line in overrides.strip().splitlines()]
    return "\n".join([
        "version: 1",
        "quantizers:",
        "  q:",
        f"    class: {cls}",
        f"    bits_activations: {bits}",
        f"    bits_weights: {bits}",
        *lines,
        "policies:",
        "  - quantizer: {instance_name: q}",
        f"    starting_epoch: {start}",
        f"    ending_epoch: {end}",
        "",
    ])


build = scheduler_for
