"""Quantization-aware training quantizers, used as schedule policies.

Importing the package registers QuantAwareTrainRangeLinearQuantizer, DorefaQuantizer, PACTQuantizer,
WRPNQuantizer and LSQQuantizer in the QUANTIZERS registry.
"""
from . import quantizers  # noqa: F401  (registration)
from .base import QATPolicy, QATQuantizer
from .checkpoint import install_from_checkpoint
from .export import qat_activation_ranges, quantized_weight, remove_quantizers

__all__ = ["QATPolicy", "QATQuantizer", "install_from_checkpoint", "qat_activation_ranges", "quantized_weight",
           "remove_quantizers"]
