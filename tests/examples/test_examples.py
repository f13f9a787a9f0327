"""The examples in examples/ run as README shows, and do what they say."""
import sys
from pathlib import Path

import pytest
import torch

from compressor.compression.schedule import load_schedule
from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run
from helpers import sparsity

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # `examples` as a package, as from the project folder

from examples import own_loop, post_training  # noqa: E402


def test_own_loop_ends_bit_identical_to_compressor_train(tmp_path):
    epochs = 3  # digits_agp.yaml starts pruning at epoch 2
    schedule = apply_overrides(load_schedule(ROOT / "schedules" / "digits_agp.yaml"),
                               TrainOptions(out=str(tmp_path / "run"), epochs=epochs))
    run = prepare_run(schedule, write_tensorboard=False)
    fit(run)
    ours = own_loop.main(str(ROOT / "schedules" / "digits_agp.yaml"), epochs=epochs)
    expected, actual = run.model.state_dict(), ours.state_dict()
    assert set(expected) == set(actual)
    assert [key for key in expected if not torch.equal(expected[key], actual[key])] == []
    assert sparsity(ours.conv2.weight) > 0.05  # the pruner acted in the loop


def test_post_training_example_keeps_accuracy_in_int8(tmp_path):
    scores = post_training.main(tmp_path)
    assert (tmp_path / "model_int8.pt2").is_file() and (tmp_path / "acts_quantization_stats.yaml").is_file()
    assert scores["fp32"] > 80.0
    assert abs(scores["int8"] - scores["fp32"]) <= 1.0 and abs(scores["simulated"] - scores["fp32"]) <= 1.0
