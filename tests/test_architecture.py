"""The import structure: dependencies point one way, from the CLI down to the core.

The graph is read from the source (every import, function-level ones included), so a cycle
hidden behind a late import is found too.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPS = {"compression": "compressor.compression", "datasets": "compressor.datasets", "cli": "compressor.cli",
        "api": "compressor"}

# Each part of the library and the lowest layer it may import from: a part imports only parts of
# its own layer or below. Subpackages are parts; so is each module directly under compression/.
LAYERS: Dict[str, int] = {
    "core": 0,
    "distributed": 1, "device": 1, "policies": 1, "quiet": 1, "sparsity": 1, "hints": 1, "summary": 1,
    "distillation_section": 1, "lr_scheduler_configs": 1, "export_formats": 1,
    "models": 2, "datasets": 2, "lr_schedulers": 2, "evaluation": 2,
    "pruning": 3, "thinning": 3, "factorization": 3, "folding": 3,
    "quantization.qat": 4, "quantization": 4,
    "restore": 5, "model_source": 5, "engines": 5, "stored_bits": 5,
    "benchmark": 6, "report": 6, "distillation": 6, "export": 6, "packing": 6, "packing_int8": 6, "early_exit": 6,
    "engine_latency": 6, "structure_state": 6, "model_checkpoint": 6,
    "schedule": 7,
    "scheduler": 8, "catalog": 8, "rehearsal": 8,
    "training": 9,
    "workflows": 10,
    "cli": 11,
    "api": 12,  # `import compressor`: the public Python API
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([TOPS[parts[0]], *parts[1:]])


def _modules() -> Dict[str, Path]:
    return {_module_name(path): path for top in TOPS for path in (ROOT / top).rglob("*.py")}


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, known: Set[str]) -> Set[str]:
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, path.name == "__init__.py", node)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
    return {name for name in found if name in known and name != module}


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[1] != "compression":
        return parts[1]
    if len(parts) == 2:
        return "compression"
    if parts[2] == "quantization" and len(parts) > 3 and parts[3] == "qat":
        return "quantization.qat"
    return parts[2]


def part_graph() -> Dict[str, Set[str]]:
    modules = _modules()
    graph: Dict[str, Set[str]] = {}
    for module, path in modules.items():
        for target in _imports(module, path, set(modules)):
            if _part(module) != _part(target):
                graph.setdefault(_part(module), set()).add(_part(target))
    return graph


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycle_between_the_parts_of_the_library():
    assert _cycle(part_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_part_has_a_layer():
    parts = {_part(module) for module in _modules()} - {"compression"}
    assert parts <= set(LAYERS), f"give these parts a layer in LAYERS: {sorted(parts - set(LAYERS))}"


def test_every_import_points_to_the_same_layer_or_below():
    upward = sorted(f"{part} ({LAYERS[part]}) imports {target} ({LAYERS[target]})"
                    for part, targets in part_graph().items() if part in LAYERS
                    for target in targets if target in LAYERS and LAYERS[target] > LAYERS[part])
    assert upward == []


def test_every_module_imports_alone_in_a_fresh_interpreter():
    """Third-party packages are imported once, then each module of ours in a fresh child process
    (as many children at a time as there are cores)."""
    script = (
        "import importlib, os, sys\n"
        "import torch, torchvision, pydantic, yaml, numpy, sklearn.datasets, click, rich.console\n"
        "import annotated_types, zoneinfo, zstandard, torch.utils.data\n"
        "from pydantic import BaseModel, ConfigDict, Field, ValidationError\n"  # pydantic loads these lazily
        "cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()\n"
        "failed, running = [], {}\n"
        "def reap():\n"
        "    pid, status = os.wait()\n"
        "    if status != 0:\n"
        "        failed.append(running[pid])\n"
        "    del running[pid]\n"
        "for name in sys.argv[1:]:\n"
        "    if len(running) >= cores:\n"
        "        reap()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except BaseException as err:\n"
        "            print(name, type(err).__name__, err, flush=True)\n"
        "            os._exit(1)\n"
        "        os._exit(0)\n"
        "    running[pid] = name\n"
        "while running:\n"
        "    reap()\n"
        "print('FAILED', sorted(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    modules = sorted(name for name in _modules() if not name.endswith("__main__"))  # that one runs the CLI
    result = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
