"""BatchNorm folding during training: each Conv2d's BatchNorm folded into its weights and a bias, the
BatchNorm replaced by an Identity; the extension is registered by compression.builtins."""
from ..core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "fold_batchnorms": ".fold",
    "recorded_folding": ".record",
    "replay_folding": ".record",
})
__all__ = sorted(__dir__())
