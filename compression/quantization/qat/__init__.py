"""Quantization-aware training quantizers, used as schedule policies.

Importing the package registers QuantAwareTrainRangeLinearQuantizer, DorefaQuantizer, PACTQuantizer,
WRPNQuantizer and LSQQuantizer in the QUANTIZERS registry.
"""
from . import quantizers  # noqa: F401  (registration)
from .base import QATPolicy, QATQuantizer
from .export import qat_activation_ranges, quantized_weight, remove_quantizers
from .record import install_from_record, qat_record

__all__ = ["QATPolicy", "QATQuantizer", "install_from_record", "qat_activation_ranges", "quantized_weight",
           "qat_record", "remove_quantizers"]
