"""What README.md shows runs as it is written: its `train` commands and its schedule examples validate."""
import re
import shlex
from pathlib import Path

import pytest

from compressor.cli.main import run

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def train_commands():
    """The arguments of each `compressor train` command in README's shell blocks, without --out."""
    commands = set()
    for line in "\n".join(blocks("bash")).splitlines():
        found = re.search(r"compressor(?:\.cli)? train (.*)", line.split("#")[0])
        if found:
            words = shlex.split(found.group(1))
            if "--out" in words:
                del words[words.index("--out"):words.index("--out") + 2]
            commands.add(tuple(words))
    return sorted(commands)


def test_readme_shows_train_commands():
    assert ("--schedule", "schedules/digits_agp.yaml") in train_commands()


@pytest.mark.parametrize("words", train_commands(), ids=" ".join)
def test_each_train_command_of_the_readme_validates(words, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    assert run(["validate", *words]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("text", [text for text in blocks("yaml") if "policies:" in text])
def test_each_schedule_example_of_the_readme_runs_every_policy(text, tmp_path, capsys):
    (tmp_path / "schedule.yaml").write_text(text)
    assert run(["validate", "--schedule", str(tmp_path / "schedule.yaml"), "--strict", "--no-build"]) == 0, \
        capsys.readouterr().err
