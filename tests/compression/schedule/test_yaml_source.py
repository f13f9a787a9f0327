import pytest
import yaml

from compressor.compression.core.errors import ScheduleError
from compressor.compression.schedule.yaml_source import load_yaml_file, load_yaml_text


def problems_of(text):
    with pytest.raises(ScheduleError) as info:
        load_yaml_text(text)
    return info.value.problems


def test_records_the_line_of_every_key_and_item():
    doc = load_yaml_text("version: 1\npolicies:\n  - pruner:\n      instance_name: a\n    epochs: [0]\n")
    assert doc.data == {"version": 1, "policies": [{"pruner": {"instance_name": "a"}, "epochs": [0]}]}
    assert doc.line_of(("policies", 0, "pruner", "instance_name")) == 4
    assert doc.line_of(("policies", 0, "epochs")) == 5
    assert doc.line_of(("policies", 0, "missing_key")) == 3


def test_syntax_error_names_the_line():
    [problem] = problems_of("version: 1\npolicies:\n  - a: [1, 2\n")
    assert "YAML syntax error" in problem.message
    assert problem.line is not None and problem.line >= 3


def test_empty_file_is_reported():
    [problem] = problems_of("   \n# only a comment\n")
    assert "empty" in problem.message


# Each payload creates the file MARKER when a loader runs it (checked below with yaml.unsafe_load).
PAYLOADS = [
    "a: !!python/object/apply:os.system ['touch MARKER']",
    "a: !!python/object/apply:shutil.copyfile ['/dev/null', 'MARKER']",
    "a: !!python/object/new:subprocess.call [['touch', 'MARKER']]",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_python_tags_are_refused_not_run(payload, tmp_path):
    marker = tmp_path / "pwned"
    text = payload.replace("MARKER", str(marker))
    [problem] = problems_of(text)
    assert "refused YAML tag" in problem.message
    assert problem.line == 1
    assert not marker.exists()
    yaml.unsafe_load(text)  # the control: the same text, when run, does leave the file
    assert marker.exists()


@pytest.mark.parametrize("text", [
    "a: !!python/name:os.system",
    "a: !!python/module:os",
    "a: !!python/object/new:subprocess.Popen [['true']]",
])
def test_python_tags_without_side_effect_are_refused(text):
    [problem] = problems_of(text)
    assert "refused YAML tag" in problem.message
    assert problem.line == 1


def test_unknown_tag_is_refused():
    [problem] = problems_of("a: !custom 3\n")
    assert "refused YAML tag" in problem.message


def test_a_duplicate_key_is_a_warning_and_the_later_value_is_read_as_pyyaml_reads_it():
    text = "a:\n  b: [1, 2]\n  c: 3\n  b:\n    - 4\n"
    doc = load_yaml_text(text)
    assert doc.data == yaml.safe_load(text) == {"a": {"b": [4], "c": 3}}
    [warning] = doc.warnings
    assert warning.path == "a.b" and warning.line == 4 and "lines 2 and 4" in warning.message
    assert doc.line_of(("a", "b", 0)) == 5 and doc.line_of(("a", "b", 1)) == 4  # the earlier list's lines are gone


def test_missing_file(tmp_path):
    with pytest.raises(ScheduleError, match="file not found"):
        load_yaml_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, path, line", [
    ("version: 2001-13-45\n", "version", 1),
    ("a:\n  when: 2001-02-30\n", "a.when", 2),
    ("a:\n  b: !!float abc\n", "a.b", 2),
    ("a: [!!int x]\n", "a[0]", 1),
    ("a: !!bool maybe\n", "a", 1),
    ("a: !!timestamp nope\n", "a", 1),
    ("a: !!int ''\n", "a", 1),
])
def test_unreadable_typed_value_is_located(text, path, line):
    [problem] = problems_of(text)
    assert problem.path == path and problem.line == line and "cannot read" in problem.message


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: *x}\n"])
def test_alias_that_contains_itself(text):
    [problem] = problems_of(text)
    assert problem.path.startswith("a") and problem.line == 1 and "aliases are expanded" in problem.message


def test_aliases_that_expand_too_far():
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]\n" for previous, name in zip("abcdefgh", "bcdefghi"))
    [problem] = problems_of(text)
    assert "more than 10000 keys and values" in problem.message and problem.line is not None


def test_a_key_repeated_with_aliases_counts_every_value_it_expanded():
    text = "a: &a [" + ", ".join(["x"] * 100) + "]\n" + "k: *a\n" * 200
    [problem] = problems_of(text)
    assert "more than 10000 keys and values" in problem.message


def test_nesting_too_deep():
    [problem] = problems_of("version: 1\na: " + "[" * 500 + "]" * 500 + "\n")
    assert "nest more than 64 levels" in problem.message and problem.line == 2
