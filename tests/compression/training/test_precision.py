"""training.precision / channels_last / compile in the one training loop, and how they compose with
pruning masks, QAT, distillation, interruption and --resume."""

import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.core.errors import ScheduleError, TrainingInterrupted, UserError
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training import precision as precision_module
from compressor.compression.training.stopping import StopRequest
from helpers import StopAt, assert_state_dicts_equal, one_thread

DIGITS = """
version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 128}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 3}
"""
AGP = DIGITS + """
pruners:
  agp:
    class: AutomatedGradualPruner
    initial_sparsity: 0.3
    final_sparsity: 0.7
    weights: [conv2.weight, conv3.weight, fc1.weight]
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
    frequency: 1
"""
QAT = DIGITS.replace("epochs: 2", "epochs: 1") + """
quantizers:
  lsq: {class: LSQQuantizer, bits_activations: 4, bits_weights: 4, per_channel_wts: true}
policies:
  - quantizer: {instance_name: lsq}
    starting_epoch: 0
    ending_epoch: 1
"""
KD = DIGITS.replace("epochs: 2", "epochs: 1") + """
distillation:
  teacher: {arch: digits_cnn}
  temperature: 4.0
"""
# fp16 convolutions train far slower than bf16 on a CPU: a few images of the digits shape
TINY_FP16 = """
version: 1
model: {arch: digits_cnn}
dataset: {name: fake, size: 16, batch_size: 8}
training: {epochs: 2, optimizer: sgd, lr: 0.05, momentum: 0.9, seed: 3, precision: fp16}
"""


def prepare(tmp_path, name, text, resume=None, **overrides):
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / name), **overrides))
    return prepare_run(schedule, resume=resume, write_tensorboard=False)


class Warnings(Reporter):
    def __init__(self):
        self.messages = []

    def on_warning(self, message):
        self.messages.append(message)


def record_dtypes(module):
    """The output dtypes of `module`'s forwards, training and evaluation apart."""
    seen = {"train": set(), "eval": set()}
    module.register_forward_hook(lambda m, i, out: seen["train" if m.training else "eval"].add(out.dtype))
    return seen


def stopped_and_resumed(tmp_path, text, epoch, step, **overrides):
    """Stop a run of `text` after `step` of `epoch`, resume it from its checkpoint without the overrides."""
    stopped = prepare(tmp_path, "stopped", text, **overrides)
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        fit(stopped, StopAt(stop, epoch, step), stop)
    checkpoint = load_checkpoint(tmp_path / "stopped" / "checkpoint.pt")
    resumed = prepare(tmp_path, "stopped", text, resume=str(tmp_path / "stopped" / "checkpoint.pt"))
    fit(resumed)
    return checkpoint, resumed


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    """digits, 2 epochs in bf16 (asked for by the flag, as `--precision bf16`), with the dtypes conv2 computed in."""
    with one_thread():
        run = prepare(tmp_path_factory.mktemp("bf16"), "run", DIGITS, precision="bf16")
        dtypes = record_dtypes(run.model.conv2)
        report = fit(run)
    return run, report, dtypes


def test_bf16_trains_and_validates_under_autocast_to_a_sane_top1_and_records_it(bf16_run):
    run, report, dtypes = bf16_run
    assert dtypes == {"train": {torch.bfloat16}, "eval": {torch.bfloat16}}
    assert report["top1"] > 80
    assert (report["precision"], report["evaluation_precision"]) == ("bf16", "bf16")
    checkpoint = load_checkpoint(run.folder.checkpoint_path)
    assert checkpoint["precision"] == "bf16" and checkpoint["grad_scaler"] == {}
    assert all(p.dtype == torch.float32 for p in run.model.parameters())  # FP32 master weights


def test_a_bf16_run_stopped_mid_epoch_resumes_bit_for_bit_in_the_precision_it_records(tmp_path, bf16_run):
    with one_thread():
        _, resumed = stopped_and_resumed(tmp_path, DIGITS, epoch=1, step=3, precision="bf16")
    assert resumed.precision.name == "bf16"  # from the checkpoint: the schedule says nothing
    straight = bf16_run[0]
    assert_state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())
    assert [r["top1"] for r in resumed.history] == [r["top1"] for r in straight.history]


def test_an_fp16_run_resumes_bit_for_bit_with_its_gradient_scaler_state(tmp_path):
    if precision_module.probe_autocast("fp16", "cpu") is not None:
        pytest.skip("this CPU cannot train in fp16")
    with one_thread():
        straight = prepare(tmp_path, "straight", TINY_FP16)
        fit(straight)
        checkpoint, resumed = stopped_and_resumed(tmp_path, TINY_FP16, epoch=1, step=0)
    # the scale backs off from 65536 when scaled gradients overflow: the resumed run must go on from there
    assert checkpoint["grad_scaler"]["scale"] < 65536.0
    assert resumed.precision.scaler.get_scale() == straight.precision.scaler.get_scale()
    assert_state_dicts_equal(straight.model.state_dict(), resumed.model.state_dict())


def test_pruning_masks_hold_after_bf16_steps(tmp_path):
    with one_thread():
        run = prepare(tmp_path, "agp", AGP, precision="bf16")
        fit(run)
    masks = run.scheduler.masks.masks
    assert set(masks) == {"conv2.weight", "conv3.weight", "fc1.weight"}
    for name, keep in masks.items():
        weight = run.model.get_parameter(name)
        assert 1 - keep.float().mean().item() == pytest.approx(0.7, abs=0.01)
        assert torch.count_nonzero(weight[~keep]) == 0, name


def test_qat_trains_in_bf16(tmp_path):
    with one_thread():
        run = prepare(tmp_path, "qat", QAT, precision="bf16")
        report = fit(run)
    assert report["top1"] > 50
    assert load_checkpoint(run.folder.checkpoint_path)["qat"]  # the quantizers are recorded
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


def test_distillation_runs_its_teacher_under_the_same_autocast(tmp_path):
    with one_thread():
        run = prepare(tmp_path, "kd", KD, precision="bf16")
        teacher = record_dtypes(run.train_loss.teacher.conv2)
        report = fit(run)
    assert teacher["eval"] == {torch.bfloat16}  # the teacher is frozen in eval mode
    assert 0 < run.history[-1]["distill_loss"] < float("inf") and report["top1"] > 50


def test_channels_last_puts_weights_and_activations_in_channels_last(tmp_path):
    with one_thread():
        run = prepare(tmp_path, "cl", DIGITS.replace("epochs: 2", "epochs: 1"), precision="bf16", channels_last=True)
        formats = []
        run.model.conv3.register_forward_pre_hook(
            lambda m, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last)))
        report = fit(run)
    assert run.model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not run.model.conv2.weight.is_contiguous()
    assert formats and all(formats) and report["channels_last"]
    assert report["top1"] > 30  # 9 steps: well above chance (10%), how far depends on the CPU's bf16 rounding


THINNED = DIGITS + """
pruners:
  filters: {class: L1RankedStructureParameterPruner, group_type: Filters, desired_sparsity: 0.5, weights: [conv2.weight]}
extensions:
  thinner: {class: FilterRemover, thinning_func_str: remove_filters, arch: digits_cnn, dataset: digits}
policies:
  - pruner: {instance_name: filters}
    epochs: [1]
  - extension: {instance_name: thinner}
    epochs: [1]
"""


def test_channels_last_reaches_layers_thinning_made_and_the_teacher(tmp_path):
    with one_thread():
        run = prepare(tmp_path, "thin", THINNED, channels_last=True)
        fit(run)
        kd = prepare(tmp_path, "kd_cl", KD, channels_last=True)
    assert run.model.conv2.out_channels == 32  # a new, thinner layer
    for name in ("conv2", "conv3"):
        assert getattr(run.model, name).weight.is_contiguous(memory_format=torch.channels_last), name
    assert kd.train_loss.teacher.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not kd.train_loss.teacher.conv2.weight.is_contiguous()


def test_a_failing_torch_compile_falls_back_to_eager_with_one_warning(tmp_path, monkeypatch, bf16_run):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler for this platform\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    warnings = Warnings()
    with one_thread():
        run = prepare(tmp_path, "eager", DIGITS, precision="bf16", compile=True)
        report = fit(run, warnings)
    assert warnings.messages == ["torch.compile failed (RuntimeError: no compiler for this platform more detail): "
                                 "training continues in eager mode"]
    assert report["compiled"] is False and report["compile_failure"] == warnings.messages[0]
    assert_state_dicts_equal(bf16_run[0].model.state_dict(), run.model.state_dict())  # eager is what ran


def test_a_compiled_forward_that_fails_at_its_first_call_falls_back_too(tmp_path, monkeypatch):
    real_compile = torch.compile

    def failing_backend(graph, example_inputs):
        raise RuntimeError("backend cannot build")

    monkeypatch.setattr(torch, "compile", lambda model: real_compile(model, backend=failing_backend))
    warnings = Warnings()
    with one_thread():
        run = prepare(tmp_path, "late", DIGITS.replace("epochs: 2", "epochs: 1"), compile=True)
        report = fit(run, warnings)
    [message] = warnings.messages
    assert "BackendCompilerFailed" in message and "backend cannot build" in message and "\n" not in message
    assert report["compiled"] is False and report["top1"] > 30  # one epoch in FP32


def test_the_training_steps_call_the_compiled_model(tmp_path, monkeypatch):
    real_compile, graphs = torch.compile, []

    def counting_backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    class HookAfterFirstStep(Warnings):
        """A forward hook added once the forward is compiled, as activation statistics add theirs."""

        def __init__(self, module):
            super().__init__()
            self.module, self.calls = module, []

        def on_step_end(self, epoch, step, steps_per_epoch):
            if step == 0:
                self.module.register_forward_hook(lambda m, i, o: self.calls.append(m.training))

    monkeypatch.setattr(torch, "compile", lambda model: real_compile(model, backend=counting_backend))
    with one_thread():
        run = prepare(tmp_path, "compiled", DIGITS.replace("epochs: 2", "epochs: 1"), compile=True)
        reporter = HookAfterFirstStep(run.model.conv3)
        report = fit(run, reporter)
    assert graphs and not reporter.messages
    assert reporter.calls.count(True) == run.loaders.steps_per_epoch - 1  # every training step after the first
    assert report["compiled"] is True and report["top1"] > 30


def test_fp16_where_the_device_cannot_run_it_is_refused_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(precision_module, "probe_autocast", lambda name, device: "no fp16 kernel for conv2d")
    with pytest.raises(UserError, match=r"precision fp16: cpu cannot compute in fp16 \(no fp16 kernel "
                                        r"for conv2d\); use --precision bf16 or fp32"):
        prepare(tmp_path, "refused", DIGITS, precision="fp16")
    assert not (tmp_path / "refused").exists()


def test_the_probe_reads_a_working_precision_as_such():
    assert precision_module.probe_autocast("bf16", "cpu") is None


def test_an_unknown_precision_is_a_schedule_error_at_its_line():
    with pytest.raises(ScheduleError) as info:
        parse_schedule_text(DIGITS.replace("seed: 3}", "seed: 3,\n           precision: fp8}"))
    [problem] = info.value.problems
    assert problem.path == "training.precision" and problem.line == 6
    assert "'fp32', 'bf16' or 'fp16'" in problem.message


def test_a_flag_with_an_unknown_precision_names_the_flag():
    with pytest.raises(UserError, match="--precision 'int4'"):
        apply_overrides(parse_schedule_text(DIGITS), TrainOptions(precision="int4"))
