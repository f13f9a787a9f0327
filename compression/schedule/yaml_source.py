"""Safe YAML loading that remembers the line of every key and item."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import yaml

from ..core.errors import Problem, ScheduleError

_PYTHON_TAG = "tag:yaml.org,2002:python/"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
MAX_DEPTH = 64  # lists and mappings inside each other, as written
MAX_NODES = 10_000  # keys and values, aliases expanded

PathKey = Tuple[Union[str, int], ...]


def format_path(path: PathKey) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class YamlDocument:
    """Plain Python data from a YAML file plus the 1-based line of each path in it."""

    data: Any
    text: str
    source: str
    lines: Dict[PathKey, int] = field(default_factory=dict)
    warnings: List[Problem] = field(default_factory=list)  # read as PyYAML reads it, but worth a look
    forgotten: int = 0  # lines of a duplicate key's earlier value: still counted towards MAX_NODES

    def line_of(self, path: PathKey) -> Optional[int]:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def problem(self, path: PathKey, message: str) -> Problem:
        return Problem(format_path(path), message, self.line_of(path))


def load_yaml_file(path: Union[str, Path]) -> YamlDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleError([Problem("", f"file not found: {path}")], str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise ScheduleError([Problem("", f"cannot read {path}: {err}")], str(path)) from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, source: str = "schedule") -> YamlDocument:
    """Parse with yaml.SafeLoader: tags such as !!python/object are refused, never run."""
    try:
        _check_nesting(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ScheduleError([_syntax_problem(err)], source) from None
    if node is None:
        raise ScheduleError([Problem("", "the file is empty (expected a mapping such as 'version: 1')", 1)], source)
    document = YamlDocument(None, text, source)
    problems: List[Problem] = []
    document.data = _build(node, (), document, problems)
    if problems:
        raise ScheduleError(problems, source)
    return document


def _check_nesting(text: str, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing (which recurses once per level)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                problem = Problem("", f"lists and mappings nest more than {MAX_DEPTH} levels deep",
                                  event.start_mark.line + 1)
                raise ScheduleError([problem], source)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _syntax_problem(err: yaml.YAMLError) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    what = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    message = f"YAML syntax error: {context}, {what}" if context else f"YAML syntax error: {what}"
    if "could not determine a constructor" in str(err):
        message = f"refused YAML tag: {what} (Python objects are never built from a schedule)"
    return Problem("", message, line)


def _build(node: yaml.Node, path: PathKey, doc: YamlDocument, problems: List[Problem]) -> Any:
    _check_size(node, path, doc)
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if node.tag.startswith(_PYTHON_TAG) or (
            not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS):
        problems.append(Problem(format_path(path), f"refused YAML tag {node.tag} "
                                "(Python objects are never built from a schedule)", node.start_mark.line + 1))
        return None
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, doc, problems)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), doc, problems) for i, item in enumerate(node.value)]
    return _build_scalar(node, path, problems)


def _check_size(node: yaml.Node, path: PathKey, doc: YamlDocument) -> None:
    """Aliases (*name) may repeat or contain themselves: bound what they expand to."""
    line, depth = node.start_mark.line + 1, 2 * MAX_DEPTH
    if len(path) > depth:
        message = f"nests more than {depth} levels deep once aliases are expanded (does an alias contain itself?)"
        raise ScheduleError([Problem(format_path(path[:4]) + "...", message, line)], doc.source)
    if len(doc.lines) + doc.forgotten > MAX_NODES:
        message = f"more than {MAX_NODES} keys and values once aliases are expanded"
        raise ScheduleError([Problem(format_path(path), message, line)], doc.source)


def _build_scalar(node: yaml.ScalarNode, path: PathKey, problems: List[Problem]) -> Any:
    try:
        return yaml.SafeLoader(" ").construct_object(node, deep=True)
    except yaml.YAMLError as err:
        problems.append(_syntax_problem(err))
    except (AttributeError, LookupError, OverflowError, ValueError):  # 2001-13-45, !!float abc, !!int ''
        kind = node.tag.rsplit(":", 1)[-1]
        problems.append(Problem(format_path(path), f"cannot read {node.value!r} as a YAML {kind} "
                                "(quote it to keep it as text)", node.start_mark.line + 1))
    return None


def _build_mapping(node: yaml.MappingNode, path: PathKey, doc: YamlDocument, problems: List[Problem]) -> Dict:
    result: Dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = _build(key_node, path + ("<key>",), doc, problems)
        if isinstance(key, (list, dict)) or key is None:
            problems.append(Problem(format_path(path), "a key must be a plain name", key_node.start_mark.line + 1))
            continue
        if key in result:
            _forget_duplicate(path + (key,), key_node.start_mark.line + 1, doc)
        doc.lines[path + (key,)] = key_node.start_mark.line + 1
        result[key] = _build(value_node, path + (key,), doc, problems)
    doc.lines.pop(path + ("<key>",), None)
    return result


def _forget_duplicate(path: PathKey, line: int, doc: YamlDocument) -> None:
    """A key written twice in one mapping: the later value is used (PyYAML's and Distiller's reading),
    with a warning naming both lines; the earlier value's lines are forgotten."""
    earlier = doc.lines.get(path)
    doc.warnings.append(Problem(format_path(path), f"duplicate key '{path[-1]}' (lines {earlier} and {line}): "
                                f"the value at line {line} is used, as PyYAML and Distiller read it", line))
    stale = [known for known in doc.lines if known[:len(path)] == path]
    for known in stale:
        del doc.lines[known]
    doc.forgotten += len(stale)
