"""The scheduler's Distiller-named hooks from a user's loop: from_yaml, order checks, metrics, resuming."""
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import compressor
from compressor.compression.core.errors import ScheduleError
from helpers import own_loop_epochs, sparsity

ROOT = Path(__file__).resolve().parents[2]


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


def write(tmp_path, text):
    path = tmp_path / "schedule.yaml"
    path.write_text(text)
    return path


AGP = """version: 1
pruners:
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.2, final_sparsity: 0.8, weights: [conv.weight, fc.weight]}
policies:
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 3
    frequency: 1
"""


def run_epochs(scheduler, model, optimizer, epochs):
    own_loop_epochs(scheduler, model, optimizer, epochs)


def test_a_users_model_is_pruned_to_the_schedules_final_sparsity(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, AGP), model, optimizer)
    run_epochs(scheduler, model, optimizer, range(4))
    assert sparsity(model.conv.weight) == pytest.approx(0.8, abs=0.02)
    assert sparsity(model.fc.weight) == pytest.approx(0.8, abs=0.01)


def test_a_torch_compiled_model_is_scheduled_by_the_names_of_the_module_it_compiles(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    compiled = torch.compile(model, backend="eager")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, AGP), compiled, optimizer)
    run_epochs(scheduler, compiled, optimizer, range(1))
    assert sparsity(model.fc.weight) == pytest.approx(0.2, abs=0.01)
    assert set(scheduler.state_dict()["masks"]["masks"]) == {"conv.weight", "fc.weight"}


def test_file_config_is_from_yaml_under_distillers_name(tmp_path):
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = compressor.file_config(model, optimizer, write(tmp_path, AGP))
    assert [item.name for item in scheduler.scheduled] == ["agp"]


def test_a_layer_name_the_model_lacks_is_refused_before_anything_runs(tmp_path):
    model = Tiny()
    with pytest.raises(ScheduleError, match="conv2.weight"):
        compressor.CompressionScheduler.from_yaml(write(tmp_path, AGP.replace("conv.weight", "conv2.weight")), model,
                                                  torch.optim.SGD(model.parameters(), lr=0.01))


@pytest.mark.parametrize("calls, message", [
    ([("on_minibatch_begin", 0, 0, 3)], "epoch 0 has not begun"),
    ([("on_epoch_begin", 0), ("on_epoch_begin", 1)], "epoch 0 has not ended"),
    ([("on_epoch_begin", 0), ("before_backward_pass", 0, 0, 3, torch.tensor(1.0))], "minibatch 0 has not begun"),
    ([("on_epoch_begin", 0), ("on_minibatch_begin", 0, 0, 3), ("on_epoch_end", 0)], "minibatch 0 has not ended"),
    ([("on_epoch_begin", 0), ("on_minibatch_begin", 1, 0, 3)], "names epoch 1 but epoch 0"),
    ([("on_epoch_begin", 0), ("on_minibatch_begin", 0, 0, 3), ("on_minibatch_end", 0, 1, 3)], "names minibatch 1"),
])
def test_hooks_out_of_order_raise_naming_the_order(tmp_path, calls, message):
    model = Tiny()
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, AGP), model,
                                                          torch.optim.SGD(model.parameters(), lr=0.01))
    with pytest.raises(compressor.HookOrderError, match=message) as raised:
        for name, *args in calls:
            getattr(scheduler, name)(*args)
    assert "the order is on_epoch_begin -> (on_minibatch_begin" in str(raised.value)


def test_distillers_positional_optimizer_and_min_metric_reach_a_plateau_scheduler(tmp_path):
    text = ("version: 1\nlr_schedulers:\n  plateau: {class: ReduceLROnPlateau, patience: 0, factor: 0.5}\n"
            "policies:\n  - lr_scheduler: {instance_name: plateau}\n    starting_epoch: 0\n    ending_epoch: 4\n"
            "    frequency: 1\n")
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's int default for a float argument (min_lr=0) passes silently
        scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, text), model, optimizer)
    for epoch in range(3):
        scheduler.on_epoch_begin(epoch, optimizer)
        scheduler.on_epoch_end(epoch, optimizer, metrics={"min": 1.0, "max": 10.0})  # no improvement
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 2)


def test_state_dict_resumes_to_the_same_weights(tmp_path):
    def fresh():
        torch.manual_seed(0)
        model = Tiny()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        return model, optimizer, compressor.CompressionScheduler.from_yaml(write(tmp_path, AGP), model, optimizer)

    model, optimizer, scheduler = fresh()
    run_epochs(scheduler, model, optimizer, range(4))
    first, opt_first, sched_first = fresh()
    run_epochs(sched_first, first, opt_first, range(2))
    state = {"model": first.state_dict(), "optimizer": opt_first.state_dict(), "scheduler": sched_first.state_dict()}
    resumed, opt_resumed, sched_resumed = fresh()
    resumed.load_state_dict(state["model"])
    opt_resumed.load_state_dict(state["optimizer"])
    sched_resumed.load_state_dict(state["scheduler"])
    run_epochs(sched_resumed, resumed, opt_resumed, range(2, 4))
    expected, actual = model.state_dict(), resumed.state_dict()
    assert set(expected) == set(actual)
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


def test_masks_travel_in_the_state_dict_so_pruned_weights_stay_zero_after_a_resume(tmp_path):
    short = AGP.replace("ending_epoch: 3", "ending_epoch: 1")
    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, short), model, optimizer)
    run_epochs(scheduler, model, optimizer, range(1))
    state = scheduler.state_dict()
    resumed = compressor.CompressionScheduler.from_yaml(write(tmp_path, short), model, optimizer)
    resumed.load_state_dict(state)
    run_epochs(resumed, model, optimizer, range(1, 3))  # no pruner due: only the masks keep the zeros
    assert sparsity(model.fc.weight) == pytest.approx(0.8, abs=0.01)


def test_a_state_saved_from_another_schedule_is_refused_before_anything_changes(tmp_path):
    """A policy added in front shifts every "index:name" key: the saved AGP state would silently start over."""
    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, AGP), model, optimizer)
    run_epochs(scheduler, model, optimizer, range(1))
    state = scheduler.state_dict()
    edited = AGP.replace("policies:\n", "lr_schedulers:\n  flat: {class: ConstantLR, factor: 1.0}\npolicies:\n"
                         "  - lr_scheduler: {instance_name: flat}\n    starting_epoch: 0\n    ending_epoch: 3\n")
    other = compressor.CompressionScheduler.from_yaml(write(tmp_path, edited), Tiny(), optimizer)
    with pytest.raises(compressor.UserError, match=r"no saved state for 0:flat, 1:agp; saved state of 0:agp"):
        other.load_state_dict(state)
    assert not other.masks.state_dict()["masks"]  # nothing loaded
    keys = other.load_state_dict(state, strict=False)
    assert (keys.missing, keys.unexpected) == (["0:flat", "1:agp"], ["0:agp"])


def test_a_plateau_scheduler_without_the_validation_loss_says_what_to_pass(tmp_path):
    text = ("version: 1\nlr_schedulers:\n  plateau: {class: ReduceLROnPlateau}\n"
            "policies:\n  - lr_scheduler: {instance_name: plateau}\n    starting_epoch: 0\n    ending_epoch: 2\n")
    model = Tiny()
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, text), model, torch.optim.SGD(
        model.parameters(), lr=0.1))
    scheduler.on_epoch_begin(0)
    with pytest.raises(compressor.UserError, match=r"metrics=\{'val_loss': val_loss\}\) \(got \['loss'\]\)"):
        scheduler.on_epoch_end(0, metrics={"loss": 0.3})


THIN = """version: 1
pruners:
  filters: {class: L1RankedStructureParameterPruner, group_type: Filters, desired_sparsity: 0.5, weights: [conv.weight],
            prune_bias: true}
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
"""


def test_thinning_without_an_input_shape_is_refused_when_the_scheduler_is_built(tmp_path):
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(compressor.UserError, match=r"thinning traces the model .* input_shape=\(C, H, W\)"):
        compressor.CompressionScheduler.from_yaml(write(tmp_path, THIN), model, optimizer)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, THIN), model, optimizer,
                                                          input_shape=(1, 8, 8))
    run_epochs(scheduler, model, optimizer, range(1))
    assert model.conv.out_channels == 4


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1))


CHAIN = """version: 1
pruners:
  filters: {class: L1RankedStructureParameterPruner, group_type: Filters, desired_sparsity: 0.5,
            weights: [conv1.weight]}
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.2, final_sparsity: 0.8, weights: [conv2.weight]}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 4
    frequency: 1
"""


def test_thin_between_epochs_of_a_running_schedule_keeps_its_pruning_going(tmp_path):
    """compressor.thin replaces conv2's weight (its input channels go): the masks follow the new parameters."""
    torch.manual_seed(0)
    model = Chain()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, CHAIN), model, optimizer)
    run_epochs(scheduler, model, optimizer, range(2))
    plan = compressor.thin(model, torch.zeros(1, 1, 8, 8), optimizer=optimizer)
    assert model.conv1.out_channels == 4 and model.conv2.in_channels == 4 and plan.params_after < plan.params_before
    run_epochs(scheduler, model, optimizer, range(2, 4))
    assert sparsity(model.conv2.weight) == pytest.approx(0.8, abs=0.02)
    with pytest.raises(compressor.UserError, match=r"does not run on example_input of shape \(1, 3, 8, 8\)"):
        compressor.thin(model, torch.zeros(1, 3, 8, 8))


KD = """version: 1
distillation:
  teacher: {arch: digits_cnn}
  temperature: 4.0
  distill_weight: 0.7
  student_weight: 0.3
  start_epoch: 1
"""


@pytest.mark.parametrize("named_teacher", [True, False])  # the teacher passed wins over the one the section names
def test_a_distillation_section_turns_the_loop_loss_into_the_distillation_loss(tmp_path, named_teacher):
    torch.manual_seed(0)
    student, teacher = Tiny(), Tiny().eval()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    text = KD if named_teacher else KD.replace("  teacher: {arch: digits_cnn}\n", "")
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, text), student, optimizer, teacher=teacher)
    images, labels = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for epoch in (0, 1):
        scheduler.on_epoch_begin(epoch)
        scheduler.on_minibatch_begin(epoch, 0, 1)
        outputs = student(images)
        own = F.cross_entropy(outputs, labels)
        loss = scheduler.before_backward_pass(epoch, 0, 1, own)
        with torch.no_grad():  # Hinton's loss, computed here from its definition
            soft = F.softmax(teacher(images) / 4.0, dim=1)
            kl = (soft * (soft.log() - F.log_softmax(outputs / 4.0, dim=1))).sum(1).mean() * 16.0
        expected = own if epoch == 0 else 0.3 * own + 0.7 * kl  # plain loss before start_epoch
        assert torch.allclose(loss, expected, atol=1e-5)
        scheduler.on_minibatch_end(epoch, 0, 1)
        scheduler.on_epoch_end(epoch)
    assert set(scheduler.mean_policy_losses(1)) == {"student_loss", "distill_loss"}


def test_distillation_without_a_training_forward_in_the_minibatch_names_the_order(tmp_path):
    student = Tiny()
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, KD.replace("start_epoch: 1", "")),
                                                          student, torch.optim.SGD(student.parameters(), lr=0.1),
                                                          teacher=Tiny())
    scheduler.on_epoch_begin(0)
    student(torch.randn(2, 1, 8, 8))  # before the minibatch began: not its forward
    scheduler.on_minibatch_begin(0, 0, 1)
    with pytest.raises(compressor.HookOrderError, match="ran no training forward"):
        scheduler.before_backward_pass(0, 0, 1, torch.tensor(1.0))


def test_a_distillation_section_without_a_teacher_needs_one_passed(tmp_path):
    student = Tiny()
    with pytest.raises(compressor.UserError, match="names no teacher"):
        compressor.CompressionScheduler.from_yaml(write(tmp_path, KD.replace("  teacher: {arch: digits_cnn}\n", "")),
                                                  student, torch.optim.SGD(student.parameters(), lr=0.1))


def test_a_teacher_without_a_distillation_section_is_refused(tmp_path):
    student = Tiny()
    with pytest.raises(compressor.UserError, match="no distillation: section"):
        compressor.CompressionScheduler.from_yaml(write(tmp_path, "version: 1\n"), student,
                                                  torch.optim.SGD(student.parameters(), lr=0.1), teacher=Tiny())


LSQ = """version: 1
quantizers:
  lsq: {class: LSQQuantizer, bits_weights: 4, bits_activations: null}
policies:
  - quantizer: {instance_name: lsq}
    starting_epoch: 0
    ending_epoch: 2
"""


@pytest.mark.parametrize("make_lr_scheduler", [
    lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10),
    lambda optimizer: torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=4)],
    ids=["OneCycleLR", "LinearLR"])
def test_the_quantizers_param_group_follows_an_lr_scheduler_built_before_the_scheduler(tmp_path, make_lr_scheduler):
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    lr_scheduler = make_lr_scheduler(optimizer)
    compressor.CompressionScheduler.from_yaml(write(tmp_path, LSQ), model, optimizer)
    assert len(optimizer.param_groups) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lr_scheduler.step() before any optimizer.step()
        for _ in range(3):
            lr_scheduler.step()
    assert optimizer.param_groups[1]["lr"] == optimizer.param_groups[0]["lr"]


def test_a_component_the_model_cannot_take_is_refused_naming_the_file(tmp_path):
    model = Tiny()  # F.relu: no activation module for the quantizer's activations
    text = LSQ.replace("bits_activations: null", "bits_activations: 4")
    with pytest.raises(ScheduleError, match=r"schedule.yaml: 1 problem\n  quantizers.lsq \(line 3\)"):
        compressor.CompressionScheduler.from_yaml(write(tmp_path, text), model,
                                                  torch.optim.SGD(model.parameters(), lr=0.01))


L1 = """version: 1
regularizers:
  l1: {class: L1Regularizer, reg_regims: {fc.weight: 0.001}}
policies:
  - regularizer: {instance_name: l1}
    starting_epoch: 0
    ending_epoch: 2
"""


@pytest.mark.parametrize("text, refused", [(AGP, False), (L1, True), (KD.replace("start_epoch: 1", ""), True)],
                         ids=["pruning", "regularizer", "distillation"])
def test_skipping_before_backward_pass_is_refused_where_it_adds_to_the_loss(tmp_path, text, refused):
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    teacher = Tiny() if "distillation" in text else None
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, text), model, optimizer, teacher=teacher)
    scheduler.on_epoch_begin(0)
    scheduler.on_minibatch_begin(0, 0, 1)
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    optimizer.step()
    if not refused:
        scheduler.on_minibatch_end(0, 0, 1)
        return
    with pytest.raises(compressor.HookOrderError, match="before_backward_pass was not called in minibatch 0"):
        scheduler.on_minibatch_end(0, 0, 1)


def test_validation_under_forward_masked_sees_the_pruned_model_and_training_keeps_the_dense_weights(tmp_path):
    text = AGP.replace("{instance_name: agp}", "{instance_name: agp, args: {mask_on_forward_only: true}}")
    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = compressor.CompressionScheduler.from_yaml(write(tmp_path, text), model, optimizer)
    run_epochs(scheduler, model, optimizer, range(1))
    dense = {name: value.clone() for name, value in model.state_dict().items()}
    pruned = Tiny()
    pruned.load_state_dict({name: value * scheduler.masks.get(name) if scheduler.masks.get(name) is not None
                            else value for name, value in dense.items()})
    images = torch.randn(4, 1, 8, 8)
    with scheduler.forward_masked(), torch.no_grad():
        assert torch.equal(model.eval()(images), pruned.eval()(images))
    assert sparsity(model.fc.weight) == 0.0
    assert all(torch.equal(model.state_dict()[name], dense[name]) for name in dense)
