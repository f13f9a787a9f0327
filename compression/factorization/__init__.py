"""Low-rank factorization: Linear and Conv2d layers replaced by products of smaller ones; the extension
is registered by compression.builtins."""
from ..core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "FactorizationPlan": ".apply",
    "FactorizedLayer": ".layers",
    "factorize": ".apply",
    "recorded_factorization": ".record",
    "replay_structure": ".record",
})
__all__ = sorted(__dir__())
