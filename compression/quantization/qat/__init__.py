"""Quantization-aware training: QuantAwareTrainRangeLinearQuantizer, DorefaQuantizer, PACTQuantizer,
WRPNQuantizer, LSQQuantizer and BinaryQuantizer (registered by compression.builtins)."""
from ...core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "QATPolicy": ".base",
    "QATQuantizer": ".base",
    "binary_activations": ".export",
    "carries_quantizers": ".export",
    "install_from_record": ".record",
    "int8_bit_changes": ".export",
    "mark_weights_quantized": ".export",
    "qat_activation_ranges": ".export",
    "qat_record": ".record",
    "quantized_weight": ".export",
    "remove_quantizers": ".export",
})
__all__ = sorted(__dir__())
