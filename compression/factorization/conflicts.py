"""What else in a schedule would point to a layer that a factorizer replaces: refused before training starts."""
from __future__ import annotations

from typing import Dict, List, Tuple

from torch import nn

from ..core.components import POLICY_KEYS
from ..core.param_names import resolve_parameter_name
from ..sparsity import prunable_weights
from .selection import Target

# the pruner and regularizer arguments that name parameters; '*' in them stands for every Conv/Linear weight
_NAMING_FIELDS = ("weights", "thresholds", "levels", "sensitivities", "reg_regims")


def schedule_conflicts(schedule, model: nn.Module, targets: List[Target]) -> List[str]:
    """Pruners and regularizers that name a parameter of a layer to factorize, and layers a QAT quantizer
    fake-quantizes (both built on the layer, which is gone once factorized), each as a sentence."""
    layer_of = {f"{target.name}.{attr}": target.name for target in targets for attr in ("weight", "bias")}
    problems: List[str] = []
    for spec, name in policy_parameters(schedule, model):
        layer = layer_of.get(name)
        if layer is not None:
            problems.append(f"{spec.kind} '{spec.instance}' works on {name}, a parameter of layer '{layer}' that "
                            f"is factorized: its mask would point to a parameter that is gone; leave the layer "
                            f"out (overrides: {{'{layer}': null}}) or prune and factorize in two runs")
    for target in targets:
        if hasattr(target.module, "_qat"):
            problems.append(f"layer '{target.name}' is fake-quantized by a QAT quantizer and factorized: its "
                            f"quantizers would go with the layer; leave it out of one of them (here overrides: "
                            f"{{'{target.name}': null}}) or quantize the factorized model in a second run")
    return list(dict.fromkeys(problems))  # a component in two policies says it once


def policy_parameters(schedule, model: nn.Module) -> List[Tuple[object, str]]:
    """(policy spec, parameter name) for each parameter a pruner or regularizer policy works on."""
    found = []
    for spec in schedule.policies:
        if spec.kind in ("pruner", "regularizer"):
            config = schedule.component(POLICY_KEYS[spec.kind], spec.instance).config
            found.extend((spec, name) for name in _named_parameters(config, model))
    return found


def _named_parameters(config, model: nn.Module) -> List[str]:
    available = [name for name, _ in model.named_parameters()]
    names: Dict[str, None] = {}
    for field in _NAMING_FIELDS:
        for name in getattr(config, field, None) or ():
            if name == "*":
                names.update((weight, None) for weight, _ in prunable_weights(model))
                continue
            try:
                names[resolve_parameter_name(name, available)] = None
            except KeyError:  # check_against_model has said so
                pass
    return list(names)
