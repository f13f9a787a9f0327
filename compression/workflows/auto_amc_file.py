"""`--amc-file`: Distiller's AMC configuration (examples/auto_compression/amc/auto_compression_*.yaml).

Its `network:` mapping gives, per model name, the layers the agent may prune, written with
DataParallel's `module.` prefixes (`module.layer1.0.conv1`); other keys are Distiller's own and
are not read. A group is searched when one of its layers is listed; the others are held out.

Distiller's two files mean their lists differently: auto_compression_filters.yaml prunes the
listed layers' filters, which is what a group here is; auto_compression_channels.yaml prunes
their input channels (the filters of the layers before them). Both are read the first way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Set

from ..core.errors import UserError, did_you_mean
from ..core.param_names import resolve_parameter_name
from ..schedule.yaml_source import load_yaml_file
from .auto_space import FilterGroup


def listed_layers(path: str, model_name: str, layers: Sequence[str]) -> Set[str]:
    """The model's names of the layers the file lists for `model_name`; `layers`: the model's Conv/Linear layers."""
    document = load_yaml_file(Path(path)).data
    network = document.get("network") if isinstance(document, dict) else None
    if not isinstance(network, dict) or not network:
        raise UserError(f"--amc-file {path}: not an AMC configuration (expected a 'network:' mapping of model "
                        "names to the lists of layers to prune, as Distiller's auto_compression_*.yaml have)")
    if model_name not in network:
        shown = ", ".join(str(name) for name in network)
        raise UserError(f"--amc-file {path} has no entry for model '{model_name}' (it has: {shown})")
    entry = network[model_name]
    if not isinstance(entry, list) or not all(isinstance(name, str) for name in entry):
        raise UserError(f"--amc-file {path}: network.{model_name} must be a list of layer names")
    return {_model_layer(name, layers, path) for name in entry}


def _model_layer(name: str, layers: Sequence[str], path: str) -> str:
    try:
        return resolve_parameter_name(name, layers)
    except KeyError:
        bare = name.replace("module.", "")
        raise UserError(f"--amc-file {path}: " + did_you_mean(bare, layers, "Conv/Linear layer")) from None


def unlisted_groups(groups: Sequence[FilterGroup], listed: Set[str], path: str) -> Dict[str, str]:
    """leader -> why it is held out, for every group none of whose layers is listed; UserError when
    no group is left."""
    unlisted = {group.leader: f"not listed in --amc-file {path}" for group in groups
                if not listed.intersection(group.members)}
    if len(unlisted) == len(groups):
        searchable = ", ".join(group.leader for group in groups)
        raise UserError(f"--amc-file {path}: none of its layers ({', '.join(sorted(listed))}) is in a filter group "
                        f"auto can search (groups, by their first layer: {searchable})")
    return unlisted
