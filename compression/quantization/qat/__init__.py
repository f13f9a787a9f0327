"""Quantization-aware training: QuantAwareTrainRangeLinearQuantizer, DorefaQuantizer, PACTQuantizer,
WRPNQuantizer and LSQQuantizer (registered by compression.builtins)."""
from ...core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "QATPolicy": ".base",
    "QATQuantizer": ".base",
    "install_from_record": ".record",
    "qat_activation_ranges": ".export",
    "qat_record": ".record",
    "quantized_weight": ".export",
    "remove_quantizers": ".export",
})
__all__ = sorted(__dir__())
