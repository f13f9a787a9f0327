"""Remove zeroed filters or channels, with everything that depends on them, for real."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from ..core.errors import UserError, did_you_mean
from ..core.forward import forward_or_refuse
from .detect import LAYER_TYPES, check_kind, zero_channels, zero_filters
from .exactness import channel_leaks
from .graph import build_graph, eval_mode, group_problem, pruning_group
from .kept import kept_notes
from .optimizer_state import group_cuts, migrate_optimizer
from .plan import ThinningPlan, count_parameters, record_ops
from .probe import OutputProbe
from .rollback import Journal


class _Failed(Exception):
    """One layer could not be thinned; the reason is the message."""


def remove_structures(model: nn.Module, example_inputs: Any, kind: str = "filters",
                      optimizer: Optional[torch.optim.Optimizer] = None,
                      layers: Optional[Sequence[str]] = None) -> ThinningPlan:
    """Physically remove the all-zero filters ("filters") or input channels ("channels") of every
    Conv/Linear layer (or of `layers` only), with the BatchNorm entries, the next layers' inputs,
    residual partners, depthwise convs and concatenated slices that depend on them.

    Only what carries nothing is removed (see exactness.py), so outputs stay equal. A layer that
    cannot be thinned is listed in `plan.skipped`; if it was named in `layers`, UserError is
    raised and nothing is changed. `optimizer` is moved to the new parameters.
    """
    check_kind(kind)
    with eval_mode(model):
        try:
            thinner = _Thinner(model, example_inputs, kind, optimizer)
        except UserError as err:  # the model cannot be traced: nothing can be thinned
            if layers is not None:
                raise
            return _untouched(model, kind, str(err))
        if layers is None:
            thinner.run(thinner.thin_all)
        else:
            thinner.run(lambda: thinner.thin_requested(list(layers)))
    record_ops(model, thinner.plan.ops)
    thinner.plan.params_after = count_parameters(model)
    return thinner.plan


def thin(model: nn.Module, example_input: torch.Tensor, kind: str = "filters",
         optimizer: Optional[torch.optim.Optimizer] = None) -> ThinningPlan:
    """Remove the all-zero filters (or input channels, `kind="channels"`) of `model`, in place.

    Outputs stay equal; what depends on a removed structure (BatchNorm, the next layer's inputs,
    residual partners) shrinks with it. Returns the plan: `removed` per layer, `skipped` layers
    with why, `params_before`/`params_after`. `optimizer`'s state follows the new parameters.

    >>> plan = thin(model, torch.randn(1, 3, 224, 224))
    """
    check_runs_on(model, example_input, "example_input")
    return remove_structures(model, (example_input,), kind, optimizer)


def check_runs_on(model: nn.Module, example: torch.Tensor, what: str) -> None:
    """A model that does not run on the example cannot be traced: said as such, not as a skipped layer."""
    with eval_mode(model):
        forward_or_refuse(model, example, what)


def _untouched(model: nn.Module, kind: str, reason: str) -> ThinningPlan:
    params = count_parameters(model)
    plan = ThinningPlan(kind=kind, params_before=params, params_after=params)
    plan.skip("(model)", reason)
    return plan


class _Thinner:
    def __init__(self, model: nn.Module, example_inputs: Any, kind: str,
                 optimizer: Optional[torch.optim.Optimizer]):
        self.model = model
        self.kind = kind
        self.op = "out" if kind == "filters" else "in"
        self.optimizer = optimizer
        self.plan = ThinningPlan(kind=kind, params_before=count_parameters(model))
        self.modules: Dict[str, nn.Module] = dict(model.named_modules())
        self.names: Dict[nn.Module, str] = {module: name for name, module in self.modules.items()}
        self.graph = build_graph(model, example_inputs)
        self.journal = Journal(optimizer)
        with torch.no_grad():
            self.probe = OutputProbe(model, example_inputs)
        self.check_each_group = False

    def run(self, action) -> None:
        """Check the outputs once at the end; only if they changed, start again checking after
        every group, so the group at fault is skipped (or named)."""
        action()
        if self.probe.mismatch():
            self.journal.undo_all()
            self.plan = ThinningPlan(kind=self.kind, params_before=self.plan.params_before)
            self.check_each_group = True
            action()

    def thin_all(self) -> None:
        for name, module in self.modules.items():
            if isinstance(module, LAYER_TYPES):
                try:
                    self._thin(name, module)
                except _Failed as failure:
                    self.plan.skip(name, str(failure))

    def thin_requested(self, names: List[str]) -> None:
        for name in names:
            self._check_requested(name)
        for name in names:
            try:
                if not self._thin(name, self.modules[name]):
                    self.plan.notes.append(f"{name}: no zero {self.kind} to remove")
            except _Failed as failure:
                self.journal.undo_all()
                raise UserError(f"cannot thin layer '{name}': {failure}") from None

    def _check_requested(self, name: str) -> None:
        """Structural reasons are found before anything is changed."""
        module = self.modules.get(name)
        if not isinstance(module, LAYER_TYPES):
            raise UserError(self._not_a_layer(name))
        try:
            problem = group_problem(self.graph, self._group(module, [0]), self.names)
        except _Failed as failure:
            problem = str(failure)
        if problem:
            raise UserError(f"cannot thin layer '{name}': {problem}")

    def _not_a_layer(self, name: str) -> str:
        layers = [n for n, m in self.modules.items() if isinstance(m, LAYER_TYPES)]
        if name in self.modules:
            return (f"cannot thin layer '{name}': it is a {type(self.modules[name]).__name__}, "
                    "not a Conv or Linear layer")
        return "cannot thin: " + did_you_mean(name, layers, "layer", limit=200)

    def _zero_indices(self, module: nn.Module) -> List[int]:
        return zero_filters(module) if self.kind == "filters" else zero_channels(module)

    def _thin(self, name: str, module: nn.Module) -> bool:
        """Remove what can be removed exactly; True if anything was."""
        idxs = self._zero_indices(module)
        if not idxs:
            return False
        group = self._group(module, idxs)
        problem = group_problem(self.graph, group, self.names)
        if problem:
            raise _Failed(problem)
        try:
            leaks = channel_leaks(self.graph, group)
        except (IndexError, RuntimeError) as err:
            raise _Failed(f"its dependency group could not be checked ({type(err).__name__}: {err})") from None
        kept = [i for i in idxs if i in leaks and leaks[i] is None]
        staying = [i for i in idxs if i not in kept]
        notes = kept_notes(self.graph, self.names, module, self.kind, leaks, staying) if staying else []
        self.plan.notes.extend(f"{name}: {note}" for note in notes)
        fitting = self._fitting(name, module, kept)
        if not fitting:
            return False
        self._prune(name, self._group(module, fitting), fitting)
        return True

    def _group(self, module: nn.Module, idxs: List[int]):
        try:
            return pruning_group(self.graph, module, self.op, idxs)
        except Exception as err:
            raise _Failed(f"Torch-Pruning cannot group its dependencies ({type(err).__name__}: {err})") from None

    def _fitting(self, name: str, module: nn.Module, idxs: List[int]) -> List[int]:
        """As many of `idxs` as leave every layer in the group at least one channel."""
        count = len(idxs)
        while count > 0 and not self.graph.check_pruning_group(self._group(module, idxs[:count])):
            count -= 1
        if count < len(idxs):
            self.plan.notes.append(f"{name}: {len(idxs) - count} zero {self.kind} kept so that every "
                                   "layer keeps at least one channel")
        return idxs[:count]

    def _prune(self, name: str, group, idxs: List[int]) -> None:
        old_params = dict(self.model.named_parameters())
        cuts = group_cuts(self.graph, group, self.names)
        self.journal.save(item.dep.target.module for item in group.items)
        try:
            group.prune(record_history=False)
            mismatch = self.probe.mismatch() if self.check_each_group else ""
        except Exception as err:
            mismatch = f"Torch-Pruning failed to remove them ({type(err).__name__}: {err})"
        if mismatch:
            self.journal.undo_last()
            raise _Failed(mismatch)
        if self.optimizer is not None:
            migrate_optimizer(self.optimizer, old_params, self.model, cuts)
        self.plan.ops.append({"layer": name, "op": self.op, "idxs": [int(i) for i in idxs]})
        self._count(group)

    def _count(self, group) -> None:
        for item in group.items:
            module = item.dep.target.module
            if isinstance(module, LAYER_TYPES):
                op = "out" if self.graph.is_out_channel_pruning_fn(item.dep.handler) else "in"
                self.plan.count_removed(self.names[module], op, len(set(item.idxs)))
