"""The validated schedule: plain typed objects that the rest of the library consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from pydantic import BaseModel

from ...datasets import DatasetConfig
from ..core.errors import Problem
from ..core.registry import Entry
from ..distillation_section import DistillationSection
from ..early_exit import EarlyExitSection
from .sections import ModelSection, TrainingSection


@dataclass(frozen=True)
class ComponentSpec:
    """One instance declared under pruners/quantizers/regularizers/lr_schedulers/extensions."""

    section: str
    name: str
    class_name: str
    config: BaseModel
    entry: Entry
    path: str
    line: Optional[int]
    lines: Dict[str, int] = field(default_factory=dict)  # argument path ("weights[0]") -> line

    def line_of(self, argument: str) -> Optional[int]:
        return self.lines.get(argument, self.line)


@dataclass(frozen=True)
class PolicySpec:
    """One item of `policies:`: which instance, with what args, at which epochs (end exclusive)."""

    index: int
    kind: str
    instance: str
    args: BaseModel
    epochs: Tuple[int, ...]
    line: Optional[int] = None

    def is_due(self, epoch: int) -> bool:
        return epoch in self.epochs


@dataclass
class Schedule:
    version: int = 1
    components: Dict[str, Dict[str, ComponentSpec]] = field(default_factory=dict)
    policies: List[PolicySpec] = field(default_factory=list)
    model: ModelSection = field(default_factory=ModelSection)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingSection = field(default_factory=TrainingSection)
    distillation: Optional[DistillationSection] = None
    early_exit: Optional[EarlyExitSection] = None
    text: str = ""
    source: str = "schedule"
    warnings: List[Problem] = field(default_factory=list)  # read as Distiller reads it, but worth a look
    options: Dict[str, Any] = field(default_factory=dict)  # command-line values applied; checkpoints keep them

    def component(self, section: str, name: str) -> ComponentSpec:
        return self.components[section][name]
