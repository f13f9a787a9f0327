"""Turn flag values into the library's typed configs, reporting bad values as user errors."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from pydantic import ValidationError

from ..compression.core.errors import UserError, did_you_mean, validation_message
from ..datasets import DATASETS, DatasetConfig


def dataset_config(default_name: str, name: Optional[str], data_dir: Optional[str],
                   batch_size: Optional[int], workers: Optional[int],
                   recorded: Optional[Dict[str, Any]] = None) -> DatasetConfig:
    """The flags' dataset; `recorded` (a checkpoint's dataset options) fills in what they leave unsaid."""
    values = {"name": name or default_name, "data_dir": data_dir, "batch_size": batch_size, "workers": workers}
    values = {key: value for key, value in values.items() if value is not None}
    if recorded and recorded.get("name") == values["name"]:
        if data_dir is not None:  # a new place for the files replaces the recorded one
            recorded = {key: value for key, value in recorded.items() if key != "path"}
        values = {**recorded, **values}
    if values["name"] not in DATASETS:
        raise UserError("--dataset: " + did_you_mean(values["name"], DATASETS.names(), "dataset"))
    check_data_dir(values["name"], data_dir)
    try:
        return DatasetConfig(**values)
    except ValidationError as err:
        raise UserError(f"bad dataset option: {validation_message(err.errors()[0])}") from None


def check_data_dir(dataset: str, data_dir: Optional[str]) -> None:
    """A file for --data-dir only where the dataset reads one (its registry entry says `reads_file`)."""
    if data_dir is None or not os.path.isfile(os.path.expanduser(data_dir)):
        return
    if not DATASETS.get(dataset).extra.get("reads_file"):
        readers = [name for name in DATASETS.names() if DATASETS.get(name).extra.get("reads_file")]
        raise UserError(f"--data-dir {data_dir} is a file, but dataset '{dataset}' reads a folder "
                        f"(only {', '.join(readers)} takes a file)")
