"""Command-line options over a schedule's sections."""
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import TrainOptions, apply_overrides


def test_data_dir_replaces_the_files_dataset_path():
    """The dataset reads `path` before `data_dir`: a --data-dir left beside the file's path would be ignored."""
    schedule = parse_schedule_text("version: 1\ndataset: {name: folder, path: /data/flat, batch_size: 8}\n")
    overridden = apply_overrides(schedule, TrainOptions(data_dir="/data/split"))
    assert overridden.dataset.model_dump(exclude_unset=True) == {"name": "folder", "data_dir": "/data/split",
                                                                  "batch_size": 8}
    assert apply_overrides(schedule, TrainOptions()).dataset.path == "/data/flat"
