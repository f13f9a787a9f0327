"""Hypothesis strategies for schedule files: random YAML documents and mutations of the shipped schedules."""
import copy
import re
from pathlib import Path

import yaml
from hypothesis import strategies as st

from compressor.compression.core.components import COMPONENT_SECTIONS, POLICY_KEYS
from compressor.compression.schedule.parse import TIMING_KEYS, TOP_LEVEL_KEYS

SCHEDULES = sorted((Path(__file__).parents[1] / "schedules").glob("*.yaml"))
CLASS_NAMES = sorted(name for _, registry in COMPONENT_SECTIONS.values() for name in registry.names())
KEYS = sorted({*TOP_LEVEL_KEYS, *POLICY_KEYS, *TIMING_KEYS, "class", "instance_name", "args", "arch", "name",
               "num_classes", "lr", "weights", "overrides", "teacher", "final_sparsity", "T_max"})
# Values written into the text as they are, so YAML itself reads them: bad dates, bad tags, aliases, deep nesting
RAW_VALUES = [
    "2001-13-45", "2001-02-30", "!!float abc", "!!int x", "!!bool maybe", "!!timestamp nope", "!!binary '%'",
    "!!set x", "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!custom 3", "&a [*a]",
    "&b {k: *b}", "*undefined", "100000000000000000000", "-1", ".nan", "-.inf", "~", "[" * 80 + "]" * 80,
    "{a: 1, a: 1}", "'unterminated", "[1, 2", "|", "0x1F", "1_000", "1:30", "yes", "=", "<<", "? a",
]
_VALUE = re.compile(r"^(\s*(?:- )?[^\s:#][^:#]*:)(?:\s.*)?$")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(KEYS), st.sampled_from(CLASS_NAMES),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(), st.booleans())
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


def dump(data):
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def paths_in(data, prefix=()):
    """Every path of a key or list item in `data` (the root excluded)."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from paths_in(value, prefix + (key,))


def parent_of(data, path):
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def data_mutations(draw, data):
    """Drop a key, replace a value, rename or add a key, or swap a class name, somewhere in `data`."""
    data = copy.deepcopy(data)
    path = draw(st.sampled_from(list(paths_in(data))))
    parent, key = parent_of(data, path), path[-1]
    action = draw(st.sampled_from(["drop", "replace", "rename", "insert", "swap_class"]))
    if action == "drop":
        del parent[key]
    elif action == "replace":
        parent[key] = draw(documents)
    elif action == "rename" and isinstance(parent, dict):
        parent[draw(keys)] = parent.pop(key)
    elif action == "insert" and isinstance(parent, dict):
        parent[draw(keys)] = draw(documents)
    else:
        parent[key] = draw(st.sampled_from(CLASS_NAMES)) if key == "class" else draw(scalars)
    return dump(data)


def with_value(line, value):
    """`key: old` as `key: value`; a line with no key is left as it is."""
    match = _VALUE.match(line.rstrip("\n"))
    return f"{match.group(1)} {value}\n" if match else line


@st.composite
def text_mutations(draw, text):
    """Truncate, re-indent, duplicate or delete a line, write a raw YAML value, or alias one value in another."""
    lines = text.splitlines(keepends=True) or [""]
    index = draw(st.integers(0, len(lines) - 1))
    action = draw(st.sampled_from(["truncate", "indent", "duplicate", "delete", "raw_value", "alias"]))
    if action == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    if action == "indent":
        lines[index] = " " * draw(st.integers(0, 7)) + lines[index].lstrip(" ")
    elif action == "duplicate":
        lines.insert(index, lines[index])
    elif action == "delete":
        del lines[index]
    elif action == "raw_value":
        lines[index] = with_value(lines[index], draw(st.sampled_from(RAW_VALUES)))
    else:
        lines[index] = lines[index].replace(":", ": &x", 1)
        other = draw(st.integers(0, len(lines) - 1))
        lines[other] = with_value(lines[other], "*x")
    return "".join(lines)


def mutations(paths):
    """Texts of the schedules drawn from `paths`, each mutated once in its data or in its text."""
    shipped = paths.map(lambda path: path.read_text())
    return st.one_of(shipped.flatmap(text_mutations), shipped.map(yaml.safe_load).flatmap(data_mutations))
