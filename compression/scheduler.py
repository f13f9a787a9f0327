"""Calls each policy at the hook points of the epochs it is due (Distiller's semantics and hook names).

`compressor train` calls these hooks, and so can any training loop (`from_yaml`, `file_config`):

    scheduler = CompressionScheduler.from_yaml("schedule.yaml", model, optimizer)
    for epoch in range(epochs):
        scheduler.on_epoch_begin(epoch)
        for step, (x, y) in enumerate(loader):
            scheduler.on_minibatch_begin(epoch, step, len(loader))
            loss = scheduler.before_backward_pass(epoch, step, len(loader), criterion(model(x), y))
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            scheduler.on_minibatch_end(epoch, step, len(loader))
        scheduler.on_epoch_end(epoch, metrics={"val_loss": val_loss, "top1": top1})
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .core.components import POLICY_KEYS, BuildContext
from .core.errors import Problem, ScheduleError, UserError
from .distillation import DistillationLoss, DistillationSection, ForwardCapture, build_teacher
from .lr_schedulers import build_lr_scheduler
from .policies import LRPolicy, Policy, StepContext
from .pruning.masks import MaskStore
from .quantization.qat import QATPolicy, QATQuantizer
from .rehearsal import rehearsal_needed, rehearse_structure_changes
from .structure_state import restore_structure_state, structure_state
from .schedule.model import PolicySpec, Schedule

HOOK_ORDER = ("on_epoch_begin -> (on_minibatch_begin -> before_backward_pass -> [optimizer step] -> "
              "on_minibatch_end) for each minibatch -> on_epoch_end")


MASKS_KEY = "masks"  # beside the policies' keys, which are "index:name"
STRUCTURE_KEY = "structure"


class HookOrderError(UserError):
    """A scheduler hook called out of order; the message names the order expected."""


@dataclass
class ScheduledPolicy:
    name: str
    spec: PolicySpec
    policy: Policy
    class_name: str = ""  # the component's registered class


class CompressionScheduler:
    """Policies due in an epoch run in declaration order; lr schedulers step last at epoch end.

    Build one from a schedule file with `from_yaml`; call its hooks from the training loop in
    the order HOOK_ORDER gives. `state_dict()`/`load_state_dict()` carry what resuming needs
    (the schedule is a function of epoch and step, so nothing else is kept).

    >>> scheduler = CompressionScheduler.from_yaml("schedules/digits_agp.yaml", model, optimizer)
    >>> scheduler.on_epoch_begin(0)
    """

    def __init__(self, scheduled: List[ScheduledPolicy], masks: Optional[MaskStore] = None,
                 distillation: Optional["DistillationHook"] = None, context: Optional[BuildContext] = None):
        self.scheduled = list(scheduled)
        self.masks = masks if masks is not None else MaskStore(torch.nn.Module())
        self.distillation = distillation
        self.context = context  # the model, optimizer and input shape the policies were built on
        self._due: List[ScheduledPolicy] = []
        self._epoch: Optional[int] = None  # the epoch begun and not ended
        self._step: Optional[int] = None  # the minibatch begun and not ended
        self._loss_passed = False  # whether before_backward_pass ran in the minibatch begun
        self.epoch_losses: Dict[str, torch.Tensor] = {}

    @classmethod
    def from_yaml(cls, path: Union[str, Path], model: nn.Module, optimizer: torch.optim.Optimizer,
                  input_shape: Optional[Sequence[int]] = None,
                  teacher: Optional[nn.Module] = None) -> "CompressionScheduler":
        """The schedule file's pruners, regularizers, quantizers, lr schedulers, extensions and distillation on `model`.

        Its `policies:`, components and `distillation:` section are used; `model:`, `dataset:` and
        `training:` belong to `compressor train` and are ignored here. `input_shape` (C, H, W) is
        needed by thinning, activation-ranked pruners and distillation hints. Layer names are
        checked against `model` before anything runs. With a `distillation:` section,
        `before_backward_pass` turns your loss into the distillation loss (your loss is the
        student's term; the batch and logits are taken from the model's training forward); the
        teacher is `teacher` or the one the section names.

        >>> scheduler = CompressionScheduler.from_yaml("schedules/digits_agp.yaml", model, optimizer)
        """
        from .schedule import load_schedule
        from .schedule.model_check import check_against_model

        if not isinstance(model, nn.Module):
            raise UserError(f"from_yaml: model must be an nn.Module, not {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise UserError(f"from_yaml: optimizer must be the torch.optim.Optimizer your loop steps (lr schedulers "
                            f"and QAT parameters go into it), not {type(optimizer).__name__}")
        model = _inside_compile(model)
        schedule = load_schedule(path)
        check_against_model(schedule, model)
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        shape = tuple(input_shape) if input_shape is not None else ()
        scheduler = build_scheduler(schedule, BuildContext(model, optimizer, MaskStore(model), shape, device))
        if schedule.distillation is not None:
            scheduler.distillation = DistillationHook.build(schedule.distillation, model, teacher, input_shape, device)
        elif teacher is not None:
            raise UserError(f"a teacher was given but {path} has no distillation: section to say how to use it")
        return scheduler

    def on_epoch_begin(self, epoch: int, optimizer: Any = None) -> None:
        if self._epoch is not None:
            self._out_of_order("on_epoch_begin", f"epoch {self._epoch} has not ended (on_epoch_end)")
        self._epoch, self._step = epoch, None
        self._due = [item for item in self.scheduled if item.spec.is_due(epoch)]
        self.epoch_losses = {}
        ctx = StepContext(epoch)
        for item in self._due:
            item.policy.on_epoch_begin(ctx)

    def on_minibatch_begin(self, epoch: int, minibatch_id: int, minibatches_per_epoch: int,
                           optimizer: Any = None) -> None:
        self._check_epoch("on_minibatch_begin", epoch)
        if self._step is not None:
            self._out_of_order("on_minibatch_begin", f"minibatch {self._step} has not ended (on_minibatch_end)")
        self._step, self._loss_passed = minibatch_id, False
        if self.distillation is not None:
            self.distillation.capture.take()  # a forward before this minibatch is not its forward
        ctx = StepContext(epoch, minibatch_id, minibatches_per_epoch)
        for item in self._due:
            item.policy.on_step_begin(ctx)
        if self.masks.forward_only:
            self.masks.mask_for_forward()

    def before_backward_pass(self, epoch: int, minibatch_id: int, minibatches_per_epoch: int,
                             loss: torch.Tensor, optimizer: Any = None) -> torch.Tensor:
        """`loss` plus the terms the due policies add (regularizers, QAT penalties): backpropagate this.

        With a `distillation:` section, `loss` is the student's own term of the distillation loss.
        """
        self._check_step("before_backward_pass", epoch, minibatch_id)
        self._loss_passed = True
        if self.distillation is not None:
            loss = self.distillation(loss, epoch)
        ctx = StepContext(epoch, minibatch_id, minibatches_per_epoch)
        for item in self._due:
            extra = item.policy.before_backward(ctx, loss)
            if extra is not None:
                loss = loss + extra
                previous = self.epoch_losses.get(item.name, 0.0)
                self.epoch_losses[item.name] = previous + extra.detach()
        return loss

    def on_minibatch_end(self, epoch: int, minibatch_id: int, minibatches_per_epoch: int,
                         optimizer: Any = None) -> None:
        """After the optimizer step. Masks are re-applied after every step, also in epochs where no pruner is due."""
        self._check_step("on_minibatch_end", epoch, minibatch_id)
        self._check_loss_passed(minibatch_id)
        self._step = None
        ctx = StepContext(epoch, minibatch_id, minibatches_per_epoch)
        for item in self._due:
            item.policy.after_optimizer_step(ctx)
        if self.masks.masks:
            self.masks.apply()

    def on_epoch_end(self, epoch: int, optimizer: Any = None, metrics: Optional[Mapping[str, float]] = None) -> None:
        """`metrics`: at least `val_loss` when a ReduceLROnPlateau is scheduled (Distiller's `min` is read as it)."""
        if isinstance(optimizer, Mapping) and metrics is None:  # on_epoch_end(epoch, metrics)
            optimizer, metrics = None, optimizer
        self._check_epoch("on_epoch_end", epoch)
        if self._step is not None:
            self._out_of_order("on_epoch_end", f"minibatch {self._step} has not ended (on_minibatch_end)")
        self._epoch = None
        ctx = StepContext(epoch)
        ordered = sorted(self._due, key=lambda item: isinstance(item.policy, LRPolicy))
        for item in ordered:
            item.policy.on_epoch_end(ctx, _with_distiller_names(metrics or {}))

    def take_notes(self) -> List[str]:
        """The policies' notes since the last call, each after its policy's instance name."""
        return [f"{item.name}: {note}" for item in self.scheduled for note in item.policy.take_notes()]

    def forward_masked(self) -> ContextManager[None]:
        """Validate under this: forward-only masks (mask_on_forward_only, use_double_copies) keep the pruned weights
        dense between steps, and hide them inside it as `compressor train`'s validation does; hard masks hold anyway.

        >>> with scheduler.forward_masked(), torch.no_grad():
        ...     top1 = evaluate(model.eval(), val_loader)
        """
        return self.masks.forward_masked()

    def mean_policy_losses(self, steps: int) -> Dict[str, float]:
        """Each policy's and the distillation's loss terms, averaged over the epoch's `steps`."""
        losses = {f"{name}_loss": float(total) / max(steps, 1) for name, total in self.epoch_losses.items()}
        if self.distillation is not None:
            losses.update(self.distillation.loss.epoch_components(steps))
        return losses

    def state_dict(self) -> Dict[str, Any]:
        """Each policy's state, the pruning masks and, once layers were thinned, factorized or folded, how:
        with the model's and optimizer's state dicts, all a resume needs."""
        state = {MASKS_KEY: self.masks.state_dict(),
                 **{self._key(item): item.policy.state_dict() for item in self.scheduled}}
        structure = structure_state(self.context.model, self.context.optimizer) if self.context else None
        if structure is not None:
            state[STRUCTURE_KEY] = structure
        return state

    def load_state_dict(self, state: Dict[str, Any], strict: bool = True) -> PolicyKeys:
        """Restore what `state_dict` saved. Call it before loading the model's and the optimizer's state dicts:
        on a freshly built model it first thins, factorizes and folds the layers as the saved run did, and
        gives the optimizer the new parameters in the saved order, so that both state dicts fit.

        Policies are matched by their place in `policies:` and their instance name. With `strict` (as
        `nn.Module.load_state_dict`), a state saved from another schedule (a policy added, removed or
        moved) raises UserError before anything changes; without it the policies that match are restored,
        the others start fresh, and the returned PolicyKeys name both kinds."""
        keys = self.policy_keys(state)
        if strict and (keys.missing or keys.unexpected):
            raise UserError(f"the saved state does not fit this schedule: {keys.describe()}; build the scheduler "
                            "from the schedule the state was saved with (or load with strict=False)")
        if STRUCTURE_KEY in state:
            if self.context is None:
                raise UserError("this scheduler was built without its model: it cannot restore changed layers")
            context = self.context
            restore_structure_state(context.model, context.optimizer, state[STRUCTURE_KEY], context.input_shape)
            self.masks.refresh_shapes()
        if MASKS_KEY in state:
            self.masks.load_state_dict(state[MASKS_KEY])
        for item in self.scheduled:
            if self._key(item) in state:
                item.policy.load_state_dict(state[self._key(item)])
        return keys

    def policy_keys(self, state: Dict[str, Any]) -> "PolicyKeys":
        """The policies this scheduler has and `state` lacks, and those `state` holds and this scheduler lacks."""
        mine = {self._key(item) for item in self.scheduled}
        saved = {key for key in state if key not in (MASKS_KEY, STRUCTURE_KEY)}
        return PolicyKeys(sorted(mine - saved, key=_policy_order), sorted(saved - mine, key=_policy_order))

    def qat_quantizers(self) -> List[Tuple[str, str, QATQuantizer]]:
        """(instance, class name, quantizer) of each QAT quantizer, in the order they were installed."""
        found: Dict[str, Tuple[str, str, QATQuantizer]] = {}
        for item in self.scheduled:
            if isinstance(item.policy, QATPolicy) and item.name not in found:
                found[item.name] = (item.name, item.class_name, item.policy.quantizer)
        return list(found.values())

    @staticmethod
    def _key(item: ScheduledPolicy) -> str:
        return f"{item.spec.index}:{item.name}"

    def _check_epoch(self, hook: str, epoch: int) -> None:
        if self._epoch is None:
            self._out_of_order(hook, f"epoch {epoch} has not begun (on_epoch_begin)")
        if epoch != self._epoch:
            self._out_of_order(hook, f"it names epoch {epoch} but epoch {self._epoch} is the one begun")

    def _check_step(self, hook: str, epoch: int, minibatch_id: int) -> None:
        self._check_epoch(hook, epoch)
        if self._step is None:
            self._out_of_order(hook, f"minibatch {minibatch_id} has not begun (on_minibatch_begin)")
        if minibatch_id != self._step:
            self._out_of_order(hook, f"it names minibatch {minibatch_id} but minibatch {self._step} is the one begun")

    def _check_loss_passed(self, minibatch_id: int) -> None:
        """Skipping before_backward_pass is harmless unless something adds to the loss there: it would do nothing."""
        if self._loss_passed:
            return
        adding = ["the distillation: section"] if self.distillation is not None else []
        adding += dict.fromkeys(f"'{item.name}'" for item in self._due
                                if type(item.policy).before_backward is not Policy.before_backward)
        if adding:
            self._out_of_order("on_minibatch_end", f"before_backward_pass was not called in minibatch "
                               f"{minibatch_id}, so the loss terms of {', '.join(adding)} were left out of this step: "
                               "backpropagate the loss before_backward_pass returns")

    @staticmethod
    def _out_of_order(hook: str, why: str) -> None:
        raise HookOrderError(f"{hook} called out of order: {why}; the order is {HOOK_ORDER}")


@dataclass
class PolicyKeys:
    """How a saved scheduler state fits a schedule; each key is "index:instance_name" of a `policies:` item."""

    missing: List[str]  # policies of the schedule without saved state
    unexpected: List[str]  # saved states of policies the schedule does not have

    def describe(self) -> str:
        parts = [f"no saved state for {', '.join(self.missing)}" if self.missing else "",
                 f"saved state of {', '.join(self.unexpected)}, which this schedule lacks" if self.unexpected else ""]
        return "; ".join(part for part in parts if part) + ' (each is "place in policies:, instance name")'


def _policy_order(key: str) -> Tuple[int, str]:
    index, _, name = key.partition(":")
    return (int(index) if index.isdigit() else -1, name)


@dataclass
class DistillationHook:
    """The `distillation:` section in a loop of your own: the student's loss becomes the distillation loss."""

    loss: DistillationLoss
    capture: ForwardCapture

    @classmethod
    def build(cls, section: DistillationSection, model: nn.Module, teacher: Optional[nn.Module],
              input_shape: Optional[Sequence[int]], device: torch.device) -> "DistillationHook":
        if section.hints and input_shape is None:
            raise UserError("distillation hints need input_shape=(C, H, W) to check the layers' shapes")
        if teacher is None and section.teacher is None:
            raise UserError("distillation: the schedule names no teacher (distillation.teacher) and none was "
                            "passed: from_yaml(..., teacher=your_trained_model)")
        if teacher is None:
            teacher = build_teacher(section.teacher, None, device, input_shape)
        else:
            teacher.eval()
        return cls(DistillationLoss(section, teacher, model, input_shape), ForwardCapture(model))

    def __call__(self, loss: torch.Tensor, epoch: int) -> torch.Tensor:
        images, outputs = self.capture.take()
        if images is None:
            raise HookOrderError("before_backward_pass: the model ran no training forward in this minibatch; "
                                 "distillation needs it (call the model in train mode between on_minibatch_begin "
                                 f"and before_backward_pass); the order is {HOOK_ORDER}")
        return self.loss.combine(loss, images, outputs, epoch)


def _inside_compile(model: nn.Module) -> nn.Module:
    """The module torch.compile wraps: it holds the parameters and layers the schedule names (the wrapper calls
    them '_orig_mod.*'), and the wrapper runs its changes, masks and hooks."""
    while isinstance(getattr(model, "_orig_mod", None), nn.Module):
        model = model._orig_mod
    return model


def file_config(model: nn.Module, optimizer: torch.optim.Optimizer, filename: Union[str, Path],
                input_shape: Optional[Sequence[int]] = None) -> CompressionScheduler:
    """Distiller's `distiller.file_config(model, optimizer, filename)`, for ported scripts.

    >>> compression_scheduler = file_config(model, optimizer, "schedules/digits_agp.yaml")
    """
    return CompressionScheduler.from_yaml(filename, model, optimizer, input_shape)


def build_scheduler(schedule: Schedule, context: BuildContext, start_epoch: int = 0) -> CompressionScheduler:
    """One runtime policy per `policies:` item; an instance used twice is built once.

    When a thinning or folding is due before a factorizer, the structure changes from `start_epoch`
    on are rehearsed on a copy of the model, so that a rank the thinned layer cannot take is refused here.
    """
    pristine = copy.deepcopy(context.model) if rehearsal_needed(schedule, start_epoch) else None
    instances: Dict[tuple, Any] = {}
    scheduled = []
    for spec in schedule.policies:
        key = (spec.kind, spec.instance)
        component = schedule.component(POLICY_KEYS[spec.kind], spec.instance)
        if key not in instances:
            instances[key] = _build_component(spec.kind, component, context, schedule.source)
        policy = LRPolicy(instances[key]) if spec.kind == "lr_scheduler" else instances[key].policy(spec)
        scheduled.append(ScheduledPolicy(spec.instance, spec, policy, component.class_name))
    for (kind, name), instance in instances.items():
        _check_schedule(schedule.component(POLICY_KEYS[kind], name), instance, schedule)
    if pristine is not None:
        rehearse_structure_changes(schedule, pristine, context, start_epoch)
    return CompressionScheduler(scheduled, context.masks, context=context)


def _build_component(kind: str, component, context: BuildContext, source: str):
    """Problems only visible with the model (a Filters group on a Linear weight, ...) keep their YAML place."""
    try:
        if kind == "lr_scheduler":
            return build_lr_scheduler(component, context.optimizer)
        return component.entry.factory(component.config, context)
    except UserError as err:
        raise ScheduleError([Problem(component.path, str(err), component.line)], source) from None


def _check_schedule(component, instance, schedule: Schedule) -> None:
    """A component's checks that need every other one built (quantizers installed, pruners resolved)."""
    check = getattr(instance, "check_schedule", None)
    if check is None:
        return
    try:
        check(schedule)
    except UserError as err:
        raise ScheduleError([Problem(component.path, str(err), component.line)], schedule.source) from None


def _with_distiller_names(metrics: Mapping[str, float]) -> Dict[str, float]:
    """Distiller's loops pass {'min': val_loss, 'max': top1}."""
    named = dict(metrics)
    if "min" in named:
        named.setdefault("val_loss", named["min"])
    if "max" in named:
        named.setdefault("top1", named["max"])
    return named
