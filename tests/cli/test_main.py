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
