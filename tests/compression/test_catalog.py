"""The shipped catalog (what `list` and `schema` print) is the code's, and reading it imports no torch."""
import configparser
import subprocess
import sys
from pathlib import Path

from compressor.compression.catalog import KINDS, build_catalog, build_parameter_catalog, read_catalog
from compressor.compression.models import MODELS
from compressor.compression.models.recorded_names import recorded_parameters

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_catalog_is_what_the_code_builds():
    shipped, built = read_catalog(), build_catalog()
    assert set(shipped["registries"]) == set(KINDS) == set(built["registries"])
    for kind in KINDS:
        names = [item["name"] for item in built["registries"][kind]]
        assert [item["name"] for item in shipped["registries"][kind]] == names, (
            f"{kind} differ: run `python -m compressor.compression.catalog`")
    assert shipped == built, "catalog.json is stale: run `python -m compressor.compression.catalog`"


def test_the_catalog_is_installed_with_the_package():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "catalog.json" in config["options.package_data"]["compressor.compression"]
    assert "model_parameters.json.gz" in config["options.package_data"]["compressor.compression"]


def test_the_recorded_parameter_names_are_the_models():
    """Every built-in model that builds on the meta device is recorded; a sample is compared whole
    (building all of them takes half a minute)."""
    recorded = recorded_parameters()
    assert set(recorded) <= set(MODELS.names()) and len(recorded) >= len(MODELS.names()) - 15  # RegNets
    sample = ["digits_cnn", "fashion_cnn", "resnet18", "preact_resnet20_cifar", "resnet20_cifar_earlyexit",
              "mobilenet", "vgg16_bn_cifar", "alexnet"]
    assert build_parameter_catalog(sample) == {name: recorded[name] for name in sample}, (
        "model_parameters.json.gz is stale: run `python -m compressor.compression.catalog`")


def test_list_and_schema_import_no_torch():
    script = ("import sys\nfrom compressor.cli.main import cli\n"
              "for args in (['list', 'models'], ['list', 'pruners', '--json'], ['schema']):\n"
              "    try:\n        cli(args, standalone_mode=False)\n    except SystemExit:\n        pass\n"
              "print('HEAVY', sorted(m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
    assert "digits_cnn" in done.stdout and "AutomatedGradualPruner" in done.stdout and '"$defs"' in done.stdout


def test_datasets_list_their_own_options_not_a_name_default(capsys):
    from compressor.cli.main import run

    arguments = {item["name"]: item["arguments"] for item in read_catalog()["registries"]["datasets"]}
    assert not [name for name, listed in arguments.items() if any(a.startswith("name") for a in listed)]
    assert "path=None" in arguments["npz"] and "resize=None" not in arguments["npz"]
    assert "resize=None" in arguments["folder"] and "path=None" not in arguments["mnist"]
    assert "data_dir=None" in arguments["mnist"]
    assert run(["list", "datasets"]) == 0
    assert "name='digits'" not in capsys.readouterr().err
