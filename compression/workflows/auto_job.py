"""Everything `auto` checks and builds before it searches; a mistake is a UserError and nothing is written."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from pydantic import ValidationError

from ...datasets import DatasetConfig, Loaders, build_datasets, build_loaders, recorded_options
from ..core.errors import UserError, validation_message
from ..device import resolve_device
from ..distributed import Ranks, process_device
from ..model_source import LoadedModel, load_model
from ..training.run_folder import check_run_folder, folder_name
from .auto_config import AutoConfig, check_config
from .auto_flags import config_from_flags, recorded_flags
from .auto_schedule import Training
from .auto_space import SearchSpace, search_space
from .auto_state import AutoState, file_digest, group_records
from .finetune import dense_training, finetune_lr

@dataclass
class AutoJob:
    config: AutoConfig
    checkpoint: Path  # the dense checkpoint, absolute
    loaded: LoadedModel
    dataset: DatasetConfig
    loaders: Loaders
    space: SearchSpace
    example: torch.Tensor
    device: torch.device
    training: Training
    folder: Path
    overwrite: bool
    state: Optional[AutoState] = None  # the flags and the rounds so far, saved in the folder after every round
    ranks: Ranks = Ranks()  # the processes torchrun started: they share each round's candidates


def prepare_auto(flags: Dict[str, Any], out: Optional[str] = None, overwrite: bool = False,
                 ranks: Ranks = Ranks()) -> AutoJob:
    """A new run from the command's flags (`auto_flags.FLAGS`); every check, nothing written.
    `ranks`: this process's place among the processes torchrun started (see `search`)."""
    flags = recorded_flags(flags)
    config = config_from_flags(flags)
    check_config(config)
    loaded = load_model(flags["checkpoint"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(out) if out else Path("runs") / f"auto-{folder_name(loaded.info.name)}-{stamp}"
    check_run_folder(folder, None, overwrite)
    job = build_job(flags, config, loaded, folder, overwrite, ranks)
    job.state = AutoState(flags, file_digest(job.checkpoint), group_records(job.space.groups))
    return job


def build_job(flags: Dict[str, Any], config: AutoConfig, loaded: LoadedModel, folder: Path,
              overwrite: bool = False, ranks: Ranks = Ranks()) -> AutoJob:
    """The data, the search space and the fine-tuning settings of a run (its `state` still to be set)."""
    device = process_device(resolve_device(config.device), ranks)
    dataset = _dataset_config(loaded, flags["data_dir"])
    loaders = _loaders(loaded, dataset)
    example = torch.zeros(1, *loaded.info.input_shape)
    space = search_space(loaded.model, example, config.hold_out)
    if not space.groups:
        raise UserError(_nothing_to_search(space, config))
    loaded.model.to(device)
    return AutoJob(config, Path(flags["checkpoint"]), loaded, dataset, loaders, space, example.to(device), device,
                   _training(loaded.checkpoint or {}, config), folder, overwrite, ranks=ranks)


def _dataset_config(loaded: LoadedModel, data_dir: Optional[str]) -> DatasetConfig:
    name = loaded.dataset
    if not name:
        raise UserError(f"the checkpoint records no dataset and model '{loaded.info.name}' has none of its own: "
                        "auto scores candidates on a validation split")
    recorded = loaded.dataset_options
    values: Dict[str, Any] = {**recorded, "name": name} if recorded.get("name") == name else {"name": name}
    if data_dir is not None:
        values = {key: value for key, value in values.items() if key != "path"}
        values["data_dir"] = data_dir
    try:
        return DatasetConfig(**values)
    except ValidationError as err:
        raise UserError(f"bad dataset option: {validation_message(err.errors()[0])}") from None


def _loaders(loaded: LoadedModel, config: DatasetConfig) -> Loaders:
    seed = int((loaded.checkpoint or {}).get("seed") or 0)
    splits = build_datasets(config, loaded.info.input_shape, loaded.info.num_classes, seed)
    if len(splits.val) == 0:
        raise UserError(f"dataset '{config.name}' has no validation split: auto scores candidates on validation "
                        "images, never on the test split")
    return build_loaders(splits, config.batch_size, config.workers, seed)


def _nothing_to_search(space: SearchSpace, config: AutoConfig) -> str:
    reasons = "; ".join(f"{layer}: {why}" for layer, why in space.left_out.items())
    return (f"no layer can serve --target {config.target}: every filter group is held out or cannot be searched "
            f"({reasons or 'the model has no Conv/Linear layers'})")


def _training(payload: Dict[str, Any], config: AutoConfig) -> Training:
    """The dense run's optimizer settings and seed, for the fine-tuning epochs."""
    dense = dense_training(payload)
    lr = config.lr if config.lr is not None else finetune_lr(dense)
    return Training(epochs=config.finetune_epochs, lr=lr, optimizer=dense.optimizer, momentum=dense.momentum,
                    weight_decay=dense.weight_decay, seed=dense.seed)


def dataset_section(job: AutoJob) -> Dict[str, Any]:
    return recorded_options(job.dataset)
