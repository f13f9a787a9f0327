"""The registries know the built-ins from the shipped catalog before their code is imported, with the
same typed configs the code registers."""
import json
import subprocess
import sys
from pathlib import Path

from compressor.compression.core.builtins import load_builtins
from compressor.compression.core.components import COMPONENT_SECTIONS
from compressor.compression.core.registry import Registry

DECLARED = """
import json, sys
from compressor.compression.core.components import COMPONENT_SECTIONS
entries = {section: {name: registry.get(name) for name in registry.names()}
           for section, (_, registry) in COMPONENT_SECTIONS.items()}
schemas = {section: {name: entry.config.model_json_schema() for name, entry in items.items()}
           for section, items in entries.items()}
print(json.dumps({"torch": "torch" in sys.modules, "schemas": schemas,
                  "classes": {section: {name: f"{e.config.__module__}:{e.config.__qualname__}" for name, e in items.items()}
                              for section, items in entries.items()}}))
"""


def test_declared_entries_have_the_registered_configs_and_need_no_torch():
    done = subprocess.run([sys.executable, "-c", DECLARED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    declared = json.loads(done.stdout)
    assert declared["torch"] is False
    load_builtins()
    for section, (_, registry) in COMPONENT_SECTIONS.items():
        registered = {entry.name: entry.config for entry in registry}
        assert set(declared["schemas"][section]) == set(registered), section
        for name, config in registered.items():
            assert declared["schemas"][section][name] == config.model_json_schema(), (section, name)
            if config.__module__ != "pydantic.main":  # a config made from a signature is made again, equal
                assert declared["classes"][section][name] == f"{config.__module__}:{config.__qualname__}"


def test_a_declared_factory_calls_the_registered_one():
    registry = Registry("thing", "pruners")
    entry = registry.get("AutomatedGradualPruner")
    calls = []
    registry.add("AutomatedGradualPruner", lambda *args: calls.append(args) or "built")
    assert entry.factory(1, 2) == "built" and calls == [(1, 2)]
    assert registry.get("AutomatedGradualPruner").factory is not entry.factory  # the registered one now


ONE_MODULE = """
import sys
from pathlib import Path
from compressor.compression.models import build_model
from compressor.datasets import build_datasets
from compressor.datasets.config import BaseDatasetConfig
build_model("digits_cnn", num_classes=10)
build_datasets(BaseDatasetConfig(name="digits"), (1, 8, 8), 10, 0)
print(sorted(m for m in ("torchvision", "timm", "sklearn", "compressor.compression.models.resnet_cifar") if m in sys.modules))
"""


def test_a_built_in_entry_loads_only_the_module_that_registers_it():
    done = subprocess.run([sys.executable, "-c", ONE_MODULE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]"]


def test_the_catalog_names_each_built_in_entrys_registering_module():
    load_builtins()
    catalog = json.loads((Path(__file__).parents[3] / "compression" / "catalog.json").read_text())
    models = {item["name"]: item["module"] for item in catalog["registries"]["models"]}
    assert models["digits_cnn"] == "compressor.compression.models.digits"
    assert models["resnet20_cifar"] == "compressor.compression.models.resnet_cifar"
    assert models["vgg16_cifar"] == "compressor.compression.models.vgg_cifar"  # through register_builtin
