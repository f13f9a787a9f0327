import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from compressor.compression.distillation import TrainingLoss
from compressor.compression.policies import LRPolicy, Policy
from compressor.compression.core.registry import NoArgs
from compressor.compression.schedule.model import PolicySpec
from compressor.compression.scheduler import CompressionScheduler, ScheduledPolicy
from compressor.compression.training.loop import train_one_epoch
from compressor.compression.training.reporting import Reporter


class Recorder(Policy):
    def __init__(self, name, log, extra_loss=None):
        self.name, self.log, self.extra_loss = name, log, extra_loss

    def on_epoch_begin(self, ctx):
        self.log.append((self.name, "epoch_begin", ctx.epoch))

    def on_step_begin(self, ctx):
        self.log.append((self.name, "step_begin", ctx.step, ctx.steps_per_epoch))

    def before_backward(self, ctx, loss):
        self.log.append((self.name, "before_backward", ctx.step))
        return self.extra_loss

    def after_optimizer_step(self, ctx):
        self.log.append((self.name, "after_step", ctx.step))

    def on_epoch_end(self, ctx, metrics):
        self.log.append((self.name, "epoch_end", ctx.epoch))


def scheduled(name, policy, epochs, index=0, kind="pruner"):
    return ScheduledPolicy(name, PolicySpec(index, kind, name, NoArgs(), tuple(epochs)), policy)


def tiny_loader():
    data = TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    return DataLoader(data, batch_size=4, generator=torch.Generator().manual_seed(0), shuffle=True)


def test_hooks_run_in_order_only_in_due_epochs():
    log = []
    scheduler = CompressionScheduler([scheduled("a", Recorder("a", log), [1]), scheduled("b", Recorder("b", log), [0, 1])])
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(2):
        scheduler.on_epoch_begin(epoch)
        train_one_epoch(model, tiny_loader(), optimizer, TrainingLoss(), scheduler, epoch,
                        torch.device("cpu"), Reporter())
        scheduler.on_epoch_end(epoch, {"val_loss": 1.0})
    epoch0 = [entry for entry in log if entry[0] == "a" and entry[-1] == 0 and entry[1] == "epoch_begin"]
    assert epoch0 == []  # 'a' is not due in epoch 0
    assert log[:5] == [("b", "epoch_begin", 0), ("b", "step_begin", 0, 2), ("b", "before_backward", 0),
                       ("b", "after_step", 0), ("b", "step_begin", 1, 2)]
    epoch1 = log[log.index(("a", "epoch_begin", 1)):]
    assert epoch1[:2] == [("a", "epoch_begin", 1), ("b", "epoch_begin", 1)]  # declaration order
    assert epoch1[-2:] == [("a", "epoch_end", 1), ("b", "epoch_end", 1)]


def test_lr_schedulers_step_after_other_policies_at_epoch_end():
    log = []
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)

    class Spy(torch.optim.lr_scheduler.StepLR):
        def step(self, *args):
            log.append("lr")
            super().step(*args)

    scheduler = CompressionScheduler([scheduled("lr", LRPolicy(Spy(optimizer, 1, 0.5)), [0], 0, "lr_scheduler"),
                                      scheduled("p", Recorder("p", log), [0], 1)])
    scheduler.on_epoch_begin(0)
    scheduler.on_epoch_end(0, {"val_loss": 1.0})
    assert log[-2:] == [("p", "epoch_end", 0), "lr"]
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_policy_losses_are_added_and_averaged():
    extra = torch.tensor(0.25, requires_grad=True)
    scheduler = CompressionScheduler([scheduled("reg", Recorder("reg", [], extra), [0])])
    model = nn.Linear(4, 2)
    scheduler.on_epoch_begin(0)
    train_one_epoch(model, tiny_loader(), torch.optim.SGD(model.parameters(), lr=0.1), TrainingLoss(),
                    scheduler, 0, torch.device("cpu"), Reporter())
    assert scheduler.mean_policy_losses(2) == {"reg_loss": 0.25}


def test_reduce_on_plateau_receives_the_validation_loss():
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    scheduler = CompressionScheduler([scheduled("p", LRPolicy(plateau), [0, 1, 2], 0, "lr_scheduler")])
    for epoch in range(3):
        scheduler.on_epoch_begin(epoch)
        scheduler.on_epoch_end(epoch, {"val_loss": 1.0})
    assert optimizer.param_groups[0]["lr"] == 0.25
