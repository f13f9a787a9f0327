"""Every schedule that ships runs through every policy it declares, scaled down to a few epochs.

Each policy's epochs are scaled with the run (epoch e of E becomes e * EPOCHS // E), so the order
of policies is kept and each still runs; the data is a few fake images (digits for digits models).
The tests then check what each policy is for: pruners reach their final sparsity, thinners remove
weights, quantizers are on (or share each layer's weights among at most k values), regularizers and
distillation add their losses, lr schedulers step.
"""
import json
from dataclasses import replace
from pathlib import Path

import pytest

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.core.param_names import resolve_parameter_name
from compressor.compression.folding import recorded_folding
from compressor.compression.folding.extension import FoldingPolicy
from compressor.compression.models import build_model, model_info
from compressor.compression.policies import LRPolicy
from compressor.compression.quantization.qat import QATPolicy
from compressor.compression.quantization.weight_sharing import WeightSharingPolicy
from compressor.compression.schedule import load_schedule
from compressor.compression.sparsity import prunable_weights
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run

SCHEDULES = sorted((Path(__file__).resolve().parents[1] / "schedules").glob("*.yaml"))
TRAINED = [path for path in SCHEDULES if load_schedule(path).policies]
EPOCHS = 3
FAKE_IMAGE_SIZE = 64  # the shipped ImageNet models run at 64x64 (their adaptive pooling allows it): 12x fewer MACs


def scaled(schedule, epochs: int):
    """`schedule` with its policies' epochs scaled from training.epochs to `epochs`."""
    total = schedule.training.epochs
    schedule.policies = [replace(spec, epochs=tuple(sorted({epoch * epochs // total for epoch in spec.epochs})))
                         for spec in schedule.policies]
    return apply_overrides(schedule, TrainOptions(epochs=epochs))


def stand_in_checkpoint(arch, path) -> str:
    """A stand-in for a trained model a schedule starts from or distils from."""
    save_checkpoint({"arch": arch, "num_classes": 10, "model_state": build_model(arch).state_dict()}, path)
    return str(path)


class Sparsities(Reporter):
    """Each weight's element and filter sparsity in every epoch: the larger of the two seen after its
    last step (before epoch-end policies, which may thin the zeros away) and after its end."""

    def __init__(self, run):
        self.run, self.by_epoch = run, {}

    def on_step_end(self, epoch, step, steps_per_epoch):
        if step == steps_per_epoch - 1:
            self._record(epoch)

    def on_epoch_end(self, record):
        self._record(record["epoch"])

    def _record(self, epoch):
        seen = self.by_epoch.setdefault(epoch, {})
        for name, weight in prunable_weights(self.run.model):
            now = ((weight == 0).float().mean().item(),
                   (weight.detach().flatten(1).abs().sum(1) == 0).float().mean().item())
            seen[name] = tuple(max(a, b) for a, b in zip(seen.get(name, now), now))


def scaled_input(arch):
    """The model's own (C, H, W), its sides cut to FAKE_IMAGE_SIZE where larger."""
    channels, height, width = model_info(arch).input_shape
    return channels, min(height, FAKE_IMAGE_SIZE), min(width, FAKE_IMAGE_SIZE)


def run_scaled(path, folder):
    schedule = load_schedule(path)
    teacher = (stand_in_checkpoint(schedule.distillation.teacher.arch, folder / "teacher.pt")
               if schedule.distillation else None)
    start = stand_in_checkpoint(schedule.model.arch, folder / "start.pt") if schedule.model.checkpoint else None
    schedule = apply_overrides(scaled(schedule, EPOCHS), TrainOptions(out=str(folder / "run"), workers=0,
                                                                      kd_teacher=teacher, checkpoint=start))
    if schedule.model.arch not in ("digits_cnn", "digits_cnn_small"):
        schedule.dataset = schedule.dataset.model_copy(update={"name": "fake", "size": 8, "batch_size": 4,
                                                               "data_dir": None})
    # the model is built for, fed and timed (in the report) at this size
    schedule.model = schedule.model.model_copy(update={"input_size": scaled_input(schedule.model.arch)})
    run = prepare_run(schedule, write_tensorboard=False)
    sparsities = Sparsities(run)
    fit(run, sparsities)
    return schedule, run, sparsities.by_epoch


def check_pruner(schedule, spec, run, by_epoch):
    config = schedule.component("pruners", spec.instance).config
    target = getattr(config, "final_sparsity", None) or getattr(config, "desired_sparsity", None)
    assert target is not None, f"no target to check for {spec.instance}"
    structured = getattr(config, "group_type", None) is not None
    after = by_epoch[spec.epochs[-1]]
    names = [name for name, _ in prunable_weights(run.model)]
    for weight in config.weights:
        element, filters = after[resolve_parameter_name(weight, names)]
        reached = filters if structured else element
        assert reached >= target - 0.05, f"{spec.instance} on {weight}: {reached:.3f} of {target}"


def check_quantizer(policy):
    if isinstance(policy, WeightSharingPolicy):
        layers = policy.quantizer.layers
        assert layers and all(count <= layers[name].k for name, count in policy.quantizer.distinct_values().items())
    else:
        assert isinstance(policy, QATPolicy)
        assert policy.quantizer.switch.enabled and policy.quantizer.modules


def check_policy(schedule, spec, run, by_epoch):
    policy = next(item.policy for item in run.scheduler.scheduled if item.spec is spec)
    if spec.kind == "pruner":
        check_pruner(schedule, spec, run, by_epoch)
    elif isinstance(policy, FoldingPolicy):
        assert policy.plans[0].layers and recorded_folding(run.model), f"{spec.instance} folded nothing"
    elif spec.kind == "extension":
        record = run.history[spec.epochs[-1]]
        assert record["weights"] < run.dense_weights, f"{spec.instance} removed nothing"
    elif spec.kind == "quantizer":
        check_quantizer(policy)
    elif spec.kind == "regularizer":
        assert all(run.history[epoch][f"{spec.instance}_loss"] > 0 for epoch in spec.epochs)
    elif spec.kind == "lr_scheduler":
        assert isinstance(policy, LRPolicy)
        assert policy.lr_scheduler.last_epoch == len(spec.epochs)
    else:
        raise AssertionError(f"no check for a {spec.kind} policy")


@pytest.mark.parametrize("path", TRAINED, ids=lambda p: p.stem)
def test_shipped_schedule_runs_every_policy_it_declares(path, tmp_path):
    schedule, run, by_epoch = run_scaled(path, tmp_path)
    assert [record["epoch"] for record in run.history] == list(range(EPOCHS))
    for spec in schedule.policies:
        assert spec.epochs and spec.epochs[-1] < EPOCHS
        check_policy(schedule, spec, run, by_epoch)
    if schedule.distillation is not None:
        assert all(record["distill_loss"] > 0 for record in run.history)


def test_scaling_keeps_every_policy_and_their_order():
    schedule = scaled(load_schedule(SCHEDULES[0].parent / "resnet20_cifar_filters_agp.yaml"), EPOCHS)
    epochs = {spec.instance: spec.epochs for spec in schedule.policies}
    assert epochs == {"low_pruner": (0,), "fine_pruner": (0,), "net_thinner": (1,), "pruning_lr": (0, 1, 2)}
    assert schedule.training.epochs == EPOCHS


PTQ = [path for path in SCHEDULES if not load_schedule(path).policies and "quantizers:" in path.read_text()]


@pytest.mark.parametrize("path", PTQ, ids=lambda p: p.stem)
def test_shipped_post_training_schedule_quantizes_as_it_says(path, tmp_path, capsys):
    from compressor.cli.main import run

    schedule = load_schedule(path)
    [spec] = schedule.components["quantizers"].values()
    arch = schedule.model.arch
    checkpoint = tmp_path / "model.pt"
    model = build_model(arch, num_classes=10)
    save_checkpoint({"arch": arch, "num_classes": 10, "input_shape": list(scaled_input(arch)),
                     "model_state": model.state_dict()}, checkpoint)
    data = ["--dataset", "fake", "--batch-size", "4"]
    assert run(["quantize", "--checkpoint", str(checkpoint), "--collect-stats", str(tmp_path / "stats.yaml"),
                "--calibration-size", "8", *data]) == 0
    capsys.readouterr()
    code = run(["quantize", "--checkpoint", str(checkpoint), "--stats", str(tmp_path / "stats.yaml"),
                "--schedule", str(path), "--calibration-size", "8", "--out", str(tmp_path / "q"), "--json", *data])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["clip_acts"] == spec.config.clip_acts
    kept = sorted(name for name, bits in spec.config.overrides.items() if bits is None)
    assert report["fp32_layers"] == kept
    assert report["int8"].startswith("x86") and (tmp_path / "q" / "model_int8.pt").is_file()
