"""Validate a loaded YAML document into a Schedule, collecting every problem with its line."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ...datasets import DatasetConfig
from ..core.components import COMPONENT_SECTIONS, POLICY_KEYS
from ..core.errors import Problem, ScheduleError, did_you_mean
from ..distillation_section import DistillationSection
from ..early_exit import EarlyExitSection
from .model import ComponentSpec, PolicySpec, Schedule
from .other_files import refuse_other_files
from .policy_args import POLICY_ARGS
from .sections import ModelSection, TrainingSection
from .validation_errors import validate_model
from .yaml_source import YamlDocument, format_path, load_yaml_file, load_yaml_text

SECTION_MODELS = {"model": ModelSection, "dataset": DatasetConfig, "training": TrainingSection}
TOP_LEVEL_KEYS = ["version", *COMPONENT_SECTIONS, "policies", *SECTION_MODELS, "distillation", "early_exit"]
TIMING_KEYS = ("starting_epoch", "ending_epoch", "frequency", "epochs")
MAX_EPOCH = 100_000  # a policy spells out its range's epochs, so a range must stay this small


def load_schedule(path: Union[str, Path]) -> Schedule:
    return parse_schedule(load_yaml_file(path))


def parse_schedule_text(text: str, source: str = "schedule") -> Schedule:
    return parse_schedule(load_yaml_text(text, source))


def parse_schedule(doc: YamlDocument) -> Schedule:
    """Every check that needs no model: structure, names, classes, arguments, timing (no torch)."""
    problems: List[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        got = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise ScheduleError([doc.problem((), f"the top level must be a mapping (version, pruners, policies, ...), got {got}")], doc.source)
    refuse_other_files(doc, TOP_LEVEL_KEYS)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            problems.append(doc.problem((key,), did_you_mean(str(key), TOP_LEVEL_KEYS, "top-level key")))
    version = data.get("version", 1)
    if version != 1 or isinstance(version, bool):
        problems.append(doc.problem(("version",), f"unsupported version {version!r} (only 1 exists)"))
    schedule = Schedule(version=1, text=doc.text, source=doc.source, warnings=list(doc.warnings))
    for key, cls in SECTION_MODELS.items():
        section = validate_model(doc, (key,), cls, data.get(key) or {}, problems)
        if section is not None:
            setattr(schedule, key, section)
    if data.get("distillation") is not None:
        schedule.distillation = validate_model(doc, ("distillation",), DistillationSection, data["distillation"],
                                               problems)
    if data.get("early_exit") is not None:
        schedule.early_exit = _early_exit(doc, data["early_exit"], problems)
    _check_names(doc, schedule, problems)
    for section in COMPONENT_SECTIONS:
        schedule.components[section] = _components(doc, section, data.get(section), problems)
    defined = {section: _instance_names(data.get(section)) for section in COMPONENT_SECTIONS}
    schedule.policies = _policies(doc, data.get("policies"), defined, schedule.components, problems)
    if problems:
        raise ScheduleError(problems, doc.source)
    return schedule


def _early_exit(doc: YamlDocument, block: Any, problems: List[Problem]):
    """The `early_exit:` section, knowing the line of each key (checked against the model later)."""
    section = validate_model(doc, ("early_exit",), EarlyExitSection, block, problems)
    if section is None:
        return None
    lines = {key[1]: line for key, line in doc.lines.items() if len(key) == 2 and key[0] == "early_exit"}
    return section.located({**lines, "": doc.line_of(("early_exit",))})


def _check_names(doc: YamlDocument, schedule: Schedule, problems: List[Problem]) -> None:
    """The model and dataset named in the file must exist."""
    from ...datasets import DATASETS
    from ..models import MODELS, checked_when_built

    arch = schedule.model.arch
    if arch is not None and not checked_when_built(arch) and arch not in MODELS:
        problems.append(doc.problem(("model", "arch"), did_you_mean(arch, MODELS.names(), "model")))
    name = schedule.dataset.name
    if name not in DATASETS:
        problems.append(doc.problem(("dataset", "name"), did_you_mean(name, DATASETS.names(), "dataset")))


def _components(doc: YamlDocument, section: str, block: Any, problems: List[Problem]) -> Dict[str, ComponentSpec]:
    if block is None:
        return {}
    if not isinstance(block, dict):
        problems.append(doc.problem((section,), "expected a mapping of instance name to {class: ..., arguments}"))
        return {}
    registry = COMPONENT_SECTIONS[section][1]
    specs = {}
    for name, body in block.items():
        path = (section, name)
        if not isinstance(name, str):
            problems.append(Problem(section, f"instance name {name!r} must be text, such as 'agp'", doc.line_of(path)))
            continue
        if not isinstance(body, dict):
            problems.append(doc.problem(path, "expected a mapping with 'class:' and its arguments"))
            continue
        class_name = body.get("class")
        if not isinstance(class_name, str):
            problems.append(doc.problem(path, "missing 'class:' (the component's class name)"))
            continue
        if class_name not in registry:
            problems.append(doc.problem(path + ("class",), did_you_mean(class_name, registry.names(), registry.kind)))
            continue
        entry = registry.get(class_name)
        args = {k: v for k, v in body.items() if k != "class"}
        config = validate_model(doc, path, entry.config, args, problems)
        if config is not None:
            lines = {format_path(key[2:]): line for key, line in doc.lines.items() if key[:2] == path and key[2:]}
            specs[name] = ComponentSpec(section, name, class_name, config, entry,
                                        format_path(path), doc.line_of(path), lines)
    return specs


def _instance_names(block: Any) -> List[str]:
    """The names an instance is defined under, valid or not: an invalid instance has its own problem,
    and a policy that names it must not add a second one."""
    return [name for name in block if isinstance(name, str)] if isinstance(block, dict) else []


def _policies(doc: YamlDocument, block: Any, defined: Dict[str, List[str]],
              components: Dict[str, Dict[str, ComponentSpec]], problems: List[Problem]) -> List[PolicySpec]:
    if block is None:
        return []
    if not isinstance(block, list):
        problems.append(doc.problem(("policies",), "expected a list of policies"))
        return []
    policies = []
    for index, item in enumerate(block):
        policy = _policy(doc, index, item, defined, components, problems)
        if policy is not None:
            policies.append(policy)
    return policies


def _policy(doc: YamlDocument, index: int, item: Any, defined, components,
            problems: List[Problem]) -> Optional[PolicySpec]:
    path = ("policies", index)
    if not isinstance(item, dict):
        problems.append(doc.problem(path, "expected a mapping such as {pruner: {instance_name: ...}, epochs: [...]}"))
        return None
    allowed = [*POLICY_KEYS, *TIMING_KEYS]
    for key in item:
        if key not in allowed:
            problems.append(doc.problem(path + (key,), did_you_mean(str(key), allowed, "policy key")))
    kinds = [key for key in POLICY_KEYS if key in item]
    if len(kinds) != 1:
        named = " and ".join(kinds) if kinds else "none"
        problems.append(doc.problem(path, f"a policy names exactly one of {', '.join(POLICY_KEYS)} (found {named})"))
        return None
    kind = kinds[0]
    target = _policy_target(doc, path + (kind,), kind, item[kind], defined, components, problems)
    epochs = _policy_epochs(doc, path, item, problems)
    if target is None or epochs is None:
        return None
    instance, args = target
    return PolicySpec(index, kind, instance, args, epochs, doc.line_of(path))


def _policy_target(doc, path, kind, body, defined, components, problems) -> Optional[Tuple[str, Any]]:
    if not isinstance(body, dict):
        problems.append(doc.problem(path, "expected a mapping with 'instance_name:'"))
        return None
    for key in body:
        if key not in ("instance_name", "args"):
            problems.append(doc.problem(path + (key,), did_you_mean(str(key), ["instance_name", "args"], "key")))
    name = body.get("instance_name")
    section = POLICY_KEYS[kind]
    if not isinstance(name, str):
        problems.append(doc.problem(path + ("instance_name",), "required: the name of an instance under " + section))
        return None
    if name not in defined[section]:
        message = did_you_mean(name, defined[section], "instance")
        message = f"'{name}' is not defined under {section}" + message[len(f"unknown instance '{name}'"):]
        message = message.replace("(available:", "(defined:").replace("(none available)", f"({section} defines none)")
        problems.append(doc.problem(path + ("instance_name",), message))
        return None
    args = validate_model(doc, path + ("args",), POLICY_ARGS[kind], body.get("args") or {}, problems)
    valid = name in components.get(section, {})
    return (name, args) if args is not None and valid else None


def _policy_epochs(doc, path, item, problems) -> Optional[Tuple[int, ...]]:
    ranged = [key for key in ("starting_epoch", "ending_epoch", "frequency") if key in item]
    if "epochs" in item:
        if ranged:
            problems.append(doc.problem(path + (ranged[0],), "give either 'epochs: [...]' or a "
                                        "starting_epoch/ending_epoch/frequency range, not both"))
            return None
        epochs = item["epochs"]
        if not isinstance(epochs, list) or not epochs or not all(_is_int(e) and e >= 0 for e in epochs):
            problems.append(doc.problem(path + ("epochs",), f"expected a non-empty list of epoch numbers >= 0, got {epochs!r}"))
            return None
        return tuple(sorted(set(epochs)))
    if "ending_epoch" not in item:
        problems.append(doc.problem(path, "needs 'epochs: [...]' or 'starting_epoch' and 'ending_epoch'"))
        return None
    start, end, frequency = item.get("starting_epoch", 0), item["ending_epoch"], item.get("frequency", 1)
    ok = True
    for key, value, low in (("starting_epoch", start, 0), ("ending_epoch", end, 1), ("frequency", frequency, 1)):
        if not _is_int(value) or value < low:
            problems.append(doc.problem(path + (key,), f"expected a whole number >= {low}, got {value!r}"))
            ok = False
        elif value > MAX_EPOCH:
            problems.append(doc.problem(path + (key,), f"expected a whole number <= {MAX_EPOCH}, got {value!r}"))
            ok = False
    if ok and end <= start:
        problems.append(doc.problem(path + ("ending_epoch",), f"ending_epoch ({end}) must be greater than "
                                    f"starting_epoch ({start}); ending_epoch is exclusive"))
        ok = False
    return tuple(range(start, end, frequency)) if ok else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
