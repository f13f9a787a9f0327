"""The install maps every source package under the `compressor` namespace."""
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = {"cli": "compressor.cli", "compression": "compressor.compression", "datasets": "compressor.datasets",
             "api": "compressor"}


def declared_packages():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return set(config["options"]["packages"].split())


def source_packages():
    found = set()
    for folder, namespace in TOP_LEVEL.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((namespace, *relative)))
    return found


def test_every_source_package_is_installed():
    assert source_packages() == declared_packages()


def test_console_script_points_at_the_cli():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "compressor = compressor.cli.main:main" in config["options.entry_points"]["console_scripts"]
