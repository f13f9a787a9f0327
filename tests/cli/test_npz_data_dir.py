"""A user's .npz file as --data-dir in every command, and in the schedule `sensitivity` suggests."""
from pathlib import Path

import numpy as np
import pytest

from compressor.cli.main import cli as group, run
from compressor.compression.schedule import load_schedule
from compressor.datasets import build_datasets


def write_npz(path: Path, train: int, test: int) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (train, 8, 8), dtype=np.uint8), y_train=np.arange(train) % 10,
             x_test=rng.integers(0, 256, (test, 8, 8), dtype=np.uint8), y_test=np.arange(test) % 10)
    return path


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory):
    """digits_cnn trained one epoch on easy.npz (40 train, 10 test images); hard.npz has 6 test images."""
    folder = tmp_path_factory.mktemp("npz")
    easy, hard = write_npz(folder / "easy.npz", 40, 10), write_npz(folder / "hard.npz", 40, 6)
    (folder / "s.yaml").write_text(f"version: 1\nmodel: {{arch: digits_cnn}}\n"
                                   f"dataset: {{name: npz, path: '{easy}', batch_size: 8}}\n"
                                   "training: {epochs: 1, lr: 0.05, skip_latency: true}\n")
    assert run(["train", "--schedule", str(folder / "s.yaml"), "--out", str(folder / "run"), "--threads", "1"]) == 0
    return folder / "run" / "best.pt", easy, hard


def test_evaluate_reads_the_npz_file_given_as_data_dir(cli, npz_run):
    checkpoint, _, hard = npz_run
    recorded = cli("evaluate", "--checkpoint", checkpoint, "--json")
    assert recorded.code == 0, recorded.err
    assert recorded.json()["samples"] == 10
    given = cli("evaluate", "--checkpoint", checkpoint, "--data-dir", hard, "--json")
    assert given.code == 0, given.err
    assert given.json()["dataset"] == "npz" and given.json()["samples"] == 6  # hard.npz's test images


@pytest.mark.parametrize("dataset", ["mnist", "folder"])
def test_a_file_as_data_dir_of_a_dataset_that_reads_a_folder_is_refused(cli, npz_run, dataset):
    _, _, hard = npz_run
    result = cli("evaluate", "--arch", "digits_cnn", "--dataset", dataset, "--data-dir", hard)
    assert result.code == 2
    assert f"--data-dir {hard} is a file, but dataset '{dataset}' reads a folder (only npz takes a file)" in result.err


@pytest.mark.parametrize("command", ["evaluate", "quantize", "export", "sensitivity", "auto"])
def test_data_dir_of_every_command_takes_a_file(command, tmp_path):
    import click

    data = write_npz(tmp_path / "data.npz", 20, 5)
    with click.Context(group) as context:
        option = next(param for param in group.get_command(context, command).params if param.name == "data_dir")
        assert option.type.convert(str(data), option, context) == str(data)


def test_sensitivity_suggests_a_schedule_that_names_the_npz_file(cli, npz_run, tmp_path):
    checkpoint, easy, hard = npz_run
    for given, out in (((), tmp_path / "recorded"), (("--data-dir", hard), tmp_path / "given")):
        result = cli("sensitivity", "--checkpoint", checkpoint, *given, "--sparsities", "0,0.5",
                     "--eval-samples", "4", "--out", out, "--json")
        assert result.code == 0, result.err
        dataset = load_schedule(out / "suggested_schedule.yaml").dataset
        assert dataset.name == "npz" and dataset.batch_size == 8
        assert (dataset.path or dataset.data_dir) == str(hard if given else easy)
        assert len(build_datasets(dataset, (1, 8, 8), 10, 0).test) == (6 if given else 10)
