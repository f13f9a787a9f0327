import importlib
import subprocess
import sys

import pytest

from compressor.cli.main import COMMANDS


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_summary_is_the_first_line_of_the_command_help(name):
    module, attribute, summary = COMMANDS[name]
    command = getattr(importlib.import_module(f"compressor.cli.{module}"), attribute)
    assert command.name == name
    assert command.help.strip().splitlines()[0] == summary


def test_help_lists_every_command_without_importing_torch():
    code = ("import sys; from compressor.cli.main import run; code = run(['--help']); "
            "print('TORCH', 'torch' in sys.modules); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TORCH False" in result.stdout
    assert all(f"  {name} " in result.stdout for name in COMMANDS)


def test_each_command_help_loads_no_torch():
    """`compressor train --help` and the rest answer at once: torch (seconds) loads only when a command runs."""
    code = ("import subprocess, sys\n"
            "for name in sys.argv[1:]:\n"
            "    probe = ('import sys; from compressor.cli.main import run; code = run([%r, \"--help\"]); '\n"
            "             'print(\"TORCH\" if \"torch\" in sys.modules else \"NONE\"); sys.exit(code)') % name\n"
            "    done = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True)\n"
            "    print(name, done.returncode, done.stdout.split()[-1] if done.stdout else done.stderr[-300:])\n")
    result = subprocess.run([sys.executable, "-c", code, *COMMANDS], capture_output=True, text=True, timeout=300)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines == {name: "0 NONE" for name in COMMANDS}, result.stdout + result.stderr


@pytest.mark.parametrize("rank, said", [("0", "failed: RuntimeError: broken here (set COMPRESSOR_DEBUG=1"),
                                        ("1", "failed (process 1): RuntimeError: broken here")])
def test_a_failure_of_ours_is_exit_1_and_one_line_from_whichever_process_met_it(monkeypatch, capsys, rank, said):
    from compressor.cli import main

    def broken(**_):
        raise RuntimeError("broken here\nsecond line")

    monkeypatch.setattr(main.cli, "main", broken)
    monkeypatch.setenv("RANK", rank)
    monkeypatch.delenv("COMPRESSOR_DEBUG", raising=False)
    assert main.run([]) == 1
    err = capsys.readouterr().err
    assert said in err and "second line" not in err and "Traceback" not in err
