"""Distiller's activation-stats YAML: written exactly as Distiller writes it, read from ours and Distiller's."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import yaml
from torch import nn

from ..core.checkpoint import atomic_write
from ..core.errors import UserError
from .distiller_names import ModelGraph, model_graph
from .stats import ModuleStats, TensorStats

STAT_KEYS = ("min", "max", "avg_min", "avg_max", "mean", "std", "b", "shape")
_NUMBER_KEYS = STAT_KEYS[:-1]
_SHAPE = re.compile(r"^\(\s*(\d+(\s*,\s*\d+)*\s*,?)?\s*\)$")
_BARE_SHAPE = re.compile(r"(\bshape:[ \t]*)(\([\d,\s]*\))")
_TOP_KEY = re.compile(r"^(['\"]?)([^\s'\"#:][^'\"]*?)\1\s*:", re.MULTILINE)


class StatsFile(dict):
    """Statistics read from a file: name -> ModuleStats, remembering the file and the line of each name."""

    def __init__(self, entries: Dict[str, ModuleStats], source: str, lines: Dict[str, int]):
        super().__init__(entries)
        self.source, self.lines = source, lines

    def where(self, name: str) -> str:
        line = self.lines.get(name)
        return f"{self.source} line {line}" if line else self.source


def write_stats(stats: Dict[str, ModuleStats], path: Union[str, Path]) -> None:
    """Write statistics as Distiller's YAML stats file (what `quantize --stats` and Distiller read).

    >>> compressor.save_stats(compressor.collect_stats(model, loader), "acts_quantization_stats.yaml")
    """
    text = yaml.safe_dump(_document(stats), default_flow_style=False, sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _document(stats: Dict[str, ModuleStats]) -> Dict[str, Any]:
    return {name: {"inputs": {index: _tensor_entry(value) for index, value in module.inputs.items()},
                   "output": _tensor_entry(module.output)}
            for name, module in stats.items()}


def _tensor_entry(stats: TensorStats) -> Dict[str, Any]:
    entry: Dict[str, Any] = {key: float(getattr(stats, key)) for key in _NUMBER_KEYS}
    entry["shape"] = shape_text(stats.shape)
    return entry


def shape_text(shape: Iterable[int]) -> str:
    """Distiller's size_to_str: `(256, 3, 224, 224)`, and `(256)` for one dimension."""
    return "(" + ", ".join(str(int(size)) for size in shape) + ")"


def read_stats(path: Union[str, Path]) -> StatsFile:
    document = _load(Path(path))
    if not isinstance(document, dict) or not document:
        raise UserError(f"{path} is not in Distiller's activation-stats format: expected a mapping of "
                        "module name to {inputs, output} stats")
    entries = {str(name): _module(path, str(name), entry) for name, entry in document.items()}
    return StatsFile(entries, str(path), _top_level_lines(Path(path).read_text()))


def schedule_stats_path(schedule: Union[str, Path], given: str) -> str:
    """The file a schedule's `model_activation_stats` names: relative to the schedule, to the current
    folder, or (Distiller's examples) to `examples/classifier_compression` beside the schedule's folder."""
    folder = Path(schedule).parent
    for candidate in (folder / given, Path(given), folder.parent.parent / "classifier_compression" / given):
        candidate = Path(os.path.normpath(candidate))  # '..' taken away by name: the folder need not exist
        if candidate.is_file():
            return str(candidate)
    return str(folder / given)


def _top_level_lines(text: str) -> Dict[str, int]:
    lines: Dict[str, int] = {}
    for match in _TOP_KEY.finditer(text):
        lines.setdefault(match.group(2).strip(), text.count("\n", 0, match.start()) + 1)
    return lines


def _load(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"stats file not found: {path}")
    try:
        return yaml.safe_load(_quote_shapes(path.read_text()))
    except yaml.constructor.ConstructorError as err:
        if err.problem and "python/" in err.problem:
            raise UserError(f"{path} carries Python objects ({err.problem}); such files are refused, "
                            "as loading them could run code") from None
        raise UserError(f"{path}: unsupported YAML content: {err.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None


def _quote_shapes(text: str) -> str:
    # Inside a flow mapping ({min: ..., shape: (256, 3, 224, 224)}) the commas of a bare
    # shape would split it into keys; quoting it reads block and flow style alike.
    return _BARE_SHAPE.sub(lambda match: f"{match.group(1)}'{match.group(2)}'", text)


def _module(path, name: str, entry: Any) -> ModuleStats:
    where = f"{path}: module '{name}'"
    if not isinstance(entry, dict) or "output" not in entry:
        raise UserError(f"{where} has no 'output' stats (not Distiller's activation-stats format)")
    inputs = entry.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise UserError(f"{where}: 'inputs' must map input index to stats")
    return ModuleStats(output=_tensor(f"{where} output", entry["output"]),
                       inputs={_index(where, key): _tensor(f"{where} inputs[{key}]", value)
                               for key, value in inputs.items()})


def _index(where: str, key: Any) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise UserError(f"{where}: input index '{key}' is not a number") from None


def _tensor(where: str, entry: Any) -> TensorStats:
    if not isinstance(entry, dict):
        raise UserError(f"{where}: expected a mapping of {', '.join(STAT_KEYS)}")
    missing = [key for key in STAT_KEYS if key not in entry]
    if missing:
        raise UserError(f"{where}: missing {', '.join(repr(key) for key in missing)}")
    values = {key: _number(where, key, entry[key]) for key in _NUMBER_KEYS}
    return TensorStats(**values, shape=_shape(where, entry["shape"]))


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: '{key}' is not a number ({value!r})")
    return float(value)


def _shape(where: str, value: Any) -> Tuple[int, ...]:
    if isinstance(value, list) and all(isinstance(size, int) and not isinstance(size, bool) for size in value):
        return tuple(value)
    if isinstance(value, str) and _SHAPE.match(value.strip()):
        return tuple(int(size) for size in re.findall(r"\d+", value))
    raise UserError(f"{where}: 'shape' must look like (256, 3, 224, 224), got {value!r}")


def check_stats_match_model(stats: Dict[str, ModuleStats], model: nn.Module, graph: Optional[ModelGraph] = None
                            ) -> None:
    """UserError when the stats name operations the model lacks, or lack any of its Conv/Linear layers.

    Names are module names, or Distiller's names of a torchvision ResNet block's operations
    (`layer1.0.relu2`, `layer1.0.add`).
    """
    graph = graph or model_graph(model)
    known = set(dict(model.named_modules())) | graph.names()
    unknown = [name for name in stats if name not in known]
    if unknown:
        where = stats.where if isinstance(stats, StatsFile) else None
        shown = [f"'{name}' ({where(name)})" if where else name for name in unknown]
        raise UserError(f"the stats name {len(unknown)} module(s) or operation(s) this model lacks ({_few(shown)}); "
                        f"the file may belong to another model (this model's layers: {_few(_layers(model))})")
    called = {op.module for op in graph.operations} if graph.graph is not None else None
    # layers the forward pass never calls (an early-exit model's exits in eval mode) have no statistics
    missing = [name for name in _layers(model) if name not in stats and (called is None or name in called)]
    if missing:
        raise UserError(f"the stats lack layer(s) of the model: {_few(missing, 10)}; collect them again "
                        "with --collect-stats")
    resized = _resized_layers(stats, model)
    if resized:
        raise UserError(f"the stats were collected on other layer sizes ({_few(resized)}): a model thinned or "
                        "factorized since? collect them again with --collect-stats on this model")


def _resized_layers(stats: Dict[str, ModuleStats], model: nn.Module) -> List[str]:
    """Conv/Linear layers whose recorded output shape has another channel count than the layer has."""
    modules = dict(model.named_modules())
    resized = []
    for name in _layers(model):
        shape = tuple(stats[name].output.shape) if name in stats else ()
        module = modules[name]
        conv = isinstance(module, nn.modules.conv._ConvNd)
        width = module.out_channels if conv else module.out_features  # a Linear's features are its last dim
        if len(shape) >= 2 and shape[1 if conv else -1] != width:
            resized.append(f"{name} ({shape[1 if conv else -1]} outputs recorded, {width} now)")
    return resized


def _layers(model: nn.Module) -> List[str]:
    return [name for name, module in model.named_modules()
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear))]


def _few(names: List[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
