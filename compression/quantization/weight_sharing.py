"""KMeansWeightSharingQuantizer: Deep Compression's trained weight sharing (Han et al., 2016).

At its policy's first due epoch each Conv2d/Linear weight is clustered into k shared values
(only its non-zero weights when it is pruned: zeros stay zeros); from then on, to the end of
training, the centroids train (shared_layer.py) and the weights hold at most k distinct values.
The weights alone carry the sharing: the model's modules and state_dict are unchanged, and the
assignments and centroids are kept in the policy's state for resuming.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from ..core.components import QUANTIZERS, BuildContext
from ..core.errors import UserError
from ..policies import Policy, StepContext
from .qat.overrides import check_overrides
from .shared_layer import SharedLayer
from .weight_sharing_config import KMeansWeightSharingConfig

SHARED_TYPES = (nn.Conv2d, nn.Linear)


def _matches(pattern: str, name: str) -> bool:
    """Anchored, as Distiller's regexes are; DataParallel's 'module.' prefix is optional."""
    return any(re.fullmatch(pattern, candidate) for candidate in (name, f"module.{name}"))


def clusters_for(name: str, config: KMeansWeightSharingConfig) -> Optional[int]:
    """The layer's k: the first matching override's (None: not shared), else the quantizer's."""
    for pattern, override in config.overrides.items():
        if _matches(pattern, name):
            return None if override is None else override.clusters
    return config.clusters


def sharing_plan(model: nn.Module, config: KMeansWeightSharingConfig) -> Dict[str, Tuple[nn.Module, int]]:
    """name -> (module, k) of every shared layer, in module order."""
    plan = {name: (module, clusters_for(name, config)) for name, module in model.named_modules()
            if isinstance(module, SHARED_TYPES)}
    return {name: (module, k) for name, (module, k) in plan.items() if k is not None}


class KMeansWeightSharingQuantizer:
    """Shares each layer's weights among k trained centroids (the layers of the model as it is then)."""

    def __init__(self, config: KMeansWeightSharingConfig, context: BuildContext):
        self.config = config
        self.context = context
        check_overrides(context.model, config.overrides)
        self.layers: Dict[str, SharedLayer] = {}
        self.clustered = False
        self._step_hook = None

    def policy(self, spec) -> "WeightSharingPolicy":
        return WeightSharingPolicy(self)

    def cluster(self) -> None:
        """Replace the weights of each Conv2d/Linear layer not left FP32 by their k-means centroids (once)."""
        if self.clustered:
            return
        generator = torch.Generator().manual_seed(self.config.seed)
        for name, (module, k) in sharing_plan(self.context.model, self.config).items():
            self._check_hard_mask(name)
            self.layers[name] = SharedLayer.cluster(module, self._keep_of(name), k, self.config.init,
                                                    self.config.iterations, generator, mean=self._mean)
            self.context.optimizer.state.pop(module.weight, None)  # the centroids' optimizer state starts afresh
        self._start()

    def after_optimizer_step(self) -> None:
        params = dict(self.context.model.named_parameters())
        for name, layer in self.layers.items():
            if params.get(f"{name}.weight") is not layer.param:
                raise UserError(f"layer '{name}' was thinned or replaced after its weights were shared: thin or "
                                "factorize the model before KMeansWeightSharingQuantizer's first epoch")
            layer.after_step()

    def _start(self) -> None:
        self.clustered = True
        if self._step_hook is None:
            self._step_hook = self.context.optimizer.register_step_post_hook(
                lambda optimizer, args, kwargs: self.after_optimizer_step())

    @property
    def _mean(self) -> bool:
        return self.config.centroid_gradient == "mean"

    def _keep_of(self, name: str) -> Callable[[], Optional[torch.Tensor]]:
        """The layer's current pruning mask, read each time: a pruner may still be due."""
        masks = self.context.masks
        return lambda: None if masks is None else masks.masks.get(f"{name}.weight")

    def _check_hard_mask(self, name: str) -> None:
        masks = self.context.masks
        if masks is not None and f"{name}.weight" in masks.forward_only:
            raise UserError(f"'{name}.weight' is pruned with a forward-only mask (mask_on_forward_only): its "
                            "pruned weights still change, so they cannot be shared; let the pruner's policy end "
                            "(keep_mask) before KMeansWeightSharingQuantizer's first epoch")

    def distinct_values(self) -> Dict[str, int]:
        """Distinct non-zero weight values of each shared layer."""
        return {name: layer.distinct_values() for name, layer in self.layers.items()}

    def state_dict(self) -> Dict[str, Any]:
        layers = {name: layer.state_dict() for name, layer in self.layers.items()}
        return {"clustered": self.clustered, "layers": layers}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for layer in self.layers.values():
            layer.remove()
        modules = dict(self.context.model.named_modules())
        self.layers = {name: SharedLayer(modules[name], saved["index"].clone(), saved["centroids"].clone(),
                                         mean=self._mean, keep=self._keep_of(name))
                       for name, saved in state.get("layers", {}).items()}
        if state.get("clustered"):
            self._start()


class WeightSharingPolicy(Policy):
    """At the first due epoch: cluster. The sharing then holds to the end of training."""

    def __init__(self, quantizer: KMeansWeightSharingQuantizer):
        self.quantizer = quantizer

    def on_epoch_begin(self, ctx: StepContext) -> None:
        self.quantizer.cluster()

    def state_dict(self) -> Dict[str, Any]:
        return self.quantizer.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.quantizer.load_state_dict(state)


QUANTIZERS.add("KMeansWeightSharingQuantizer", KMeansWeightSharingQuantizer, KMeansWeightSharingConfig,
               "Deep Compression weight sharing: k-means shared values per layer, centroids trained by summed "
               "gradients.")
