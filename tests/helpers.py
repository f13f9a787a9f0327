"""Shared test helpers: a scheduler built from schedule text, and whole training runs."""
import os
import signal
import textwrap
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

from compressor.compression.core.components import BuildContext
from compressor.compression.core.errors import ScheduleError
from compressor.compression.models import build_model, model_info
from compressor.compression.pruning.masks import MaskStore
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training.setup import build_scheduler
from compressor.compression.workflows import auto as auto_workflow


def context_for(arch="digits_cnn", seed=0):
    torch.manual_seed(seed)
    model = build_model(arch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return BuildContext(model, optimizer, MaskStore(model), model_info(arch).input_shape, torch.device("cpu"))


def scheduler_for(text, arch="digits_cnn", seed=0):
    context = context_for(arch, seed)
    return build_scheduler(parse_schedule_text(text), context), context


def train_schedule(tmp_path, name, text, resume=None, **overrides):
    """Run `text` into tmp_path/name (no TensorBoard); returns (run, report)."""
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / name), **overrides))
    run = prepare_run(schedule, resume=resume, write_tensorboard=False)
    return run, fit(run)


def own_loop_epochs(scheduler, model, optimizer, epochs, input_shape=(1, 8, 8), classes=10, steps=3, batch=8):
    """A plain training loop through the scheduler's hooks, on random data that depends on the epoch alone
    (so a run split by a resume sees the same batches)."""
    for epoch in epochs:
        generator = torch.Generator().manual_seed(epoch)
        scheduler.on_epoch_begin(epoch)
        for step in range(steps):
            images = torch.randn(batch, *input_shape, generator=generator)
            labels = torch.randint(0, classes, (batch,), generator=generator)
            scheduler.on_minibatch_begin(epoch, step, steps)
            loss = nn.functional.cross_entropy(model(images), labels)
            loss = scheduler.before_backward_pass(epoch, step, steps, loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.on_minibatch_end(epoch, step, steps)
        scheduler.on_epoch_end(epoch, metrics={"val_loss": 1.0, "top1": 50.0})


def sparsity(tensor):
    return 1.0 - torch.count_nonzero(tensor).item() / tensor.numel()


def random_digit_batches(count=2, size=16):
    """Seeded random (images, labels) batches shaped like digits."""
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(size, 1, 8, 8, generator=generator), torch.randint(0, 10, (size,), generator=generator))
            for _ in range(count)]


def seeded_model(arch="digits_cnn", seed=0):
    torch.manual_seed(seed)
    return build_model(arch)


class StopAt(Reporter):
    """Requests a stop (as SIGTERM would) when the given step of the given epoch ends."""

    def __init__(self, stop, epoch, step):
        self.stop, self.epoch, self.step = stop, epoch, step

    def on_step_end(self, epoch, step, steps_per_epoch):
        if (epoch, step) == (self.epoch, self.step):
            self.stop.request(signal.SIGTERM)


def give_batchnorms_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine terms, as a trained model has; the model, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) * 0.4 - 0.2)
    return model.eval()


@contextmanager
def one_thread():
    """Run the block on one thread (module-scoped fixtures run before function-scoped autouse ones)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def assert_state_dicts_equal(a, b):
    """Same keys, and every tensor bit-for-bit equal by key (zip() would stop at the shorter one)."""
    a, b = dict(a), dict(b)
    assert set(a) == set(b), (sorted(set(a) - set(b)), sorted(set(b) - set(a)))
    for name in a:
        x, y = a[name], b[name]
        assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y, name


DISTILLER_EXAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "distiller-examples"


def distiller_example(relative):
    """A file of Distiller's example YAMLs (data in ../shared, never in the project), or skip saying so."""
    path = DISTILLER_EXAMPLES / relative
    if not path.is_file():
        pytest.skip(f"Distiller's example files are not in {DISTILLER_EXAMPLES.resolve()} ({relative} absent)")
    return path


def parse(text):
    """A schedule from an indented YAML text (dedented first)."""
    return parse_schedule_text(textwrap.dedent(text))


def problems(text):
    """The validation problems of a schedule text that must not parse."""
    with pytest.raises(ScheduleError) as info:
        parse(text)
    return info.value.problems


def architecture_shapes(cli, checkpoint):
    result = cli("summary", "--checkpoint", checkpoint, "--json")
    assert result.code == 0, result.err
    return {layer["name"]: layer["shape"] for layer in result.json()["layers"]}


def assert_train_reproduces(cli, out, again):
    """`compressor train` on auto's schedule.yaml (1 epoch) builds the architecture auto found."""
    result = cli("train", "--schedule", out / "schedule.yaml", "--epochs", "1", "--out", again, "--json",
                 "--threads", "1")
    assert result.code == 0, result.err
    assert architecture_shapes(cli, again / "best.pt") == architecture_shapes(cli, out / "best.pt")


def sigterm_after_saved_state(monkeypatch, condition):
    """SIGTERM to this process, through the CLI's own handler, right after the first `compressor auto`
    state saved (auto_state.json: after every round or episode, and when the search ends) that meets
    `condition`. Returns a list that holds True once the signal is sent."""
    real, sent = auto_workflow.save_state, []

    def save_then_signal(folder, state):
        real(folder, state)
        if not sent and condition(state):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(auto_workflow, "save_state", save_then_signal)
    return sent


def mixed_groups_net(classes: int = 10) -> nn.Sequential:
    """Digits-sized (1x8x8): a conv with a bias and no BatchNorm, an inverted residual block (1x1 expansion,
    BatchNorm, depthwise 3x3, BatchNorm, 1x1 projection) and a Linear layer with a BatchNorm1d."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(1, 8, 3, padding=1)), ("relu", nn.ReLU()),
        ("expand", nn.Conv2d(8, 16, 1, bias=False)), ("expand_bn", nn.BatchNorm2d(16)), ("expand_act", nn.ReLU6()),
        ("dw", nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)), ("dw_bn", nn.BatchNorm2d(16)),
        ("dw_act", nn.ReLU6()), ("project", nn.Conv2d(16, 8, 1, bias=False)), ("project_bn", nn.BatchNorm2d(8)),
        ("pool", nn.AdaptiveAvgPool2d(2)), ("flatten", nn.Flatten()), ("fc1", nn.Linear(32, 16)),
        ("fc1_bn", nn.BatchNorm1d(16)), ("fc1_act", nn.ReLU()), ("fc2", nn.Linear(16, classes))]))
