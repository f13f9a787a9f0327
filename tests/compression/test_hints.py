"""Feature (hint) distillation between named layers: losses, hooks, checks and a short run."""
import copy
import json

import pytest
import torch

from compressor.compression.core.checkpoint import save_checkpoint
from compressor.compression.distillation import DistillationLoss, DistillationSection
from compressor.compression.hints import FeatureTap, attention_loss, mse_loss
from compressor.compression.core.errors import ScheduleError, UserError
from compressor.compression.models import build_model
from compressor.compression.schedule import parse_schedule_text
from helpers import train_schedule

INPUT = (1, 8, 8)


def section(*hints, **values):
    return DistillationSection(teacher={"arch": "digits_cnn"}, hints=list(hints), **values)


def models(seed=0):
    torch.manual_seed(seed)
    return build_model("digits_cnn_small"), build_model("digits_cnn").eval()


def test_attention_loss_is_zero_for_features_equal_up_to_a_positive_scale():
    torch.manual_seed(0)
    student = torch.randn(4, 8, 5, 5)
    assert attention_loss(student, 3.0 * student).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_loss(student, student.flip(-1)).item() > 0
    flat = torch.randn(4, 6)  # 2-D features: f^2 per feature
    assert attention_loss(flat, -2.0 * flat).item() == pytest.approx(0.0, abs=1e-6)


def test_attention_loss_by_hand():
    # channel mean of f^2: student map [1, 0, 0, 0], teacher map [0, 0, 0, 1] -> normalised distance^2 = 2
    student = torch.zeros(1, 2, 2, 2)
    student[0, :, 0, 0] = 1.0
    teacher = torch.zeros(1, 5, 2, 2)  # another channel count
    teacher[0, :, 1, 1] = 2.0
    assert attention_loss(student, teacher).item() == pytest.approx(2.0)
    assert attention_loss(student, torch.randn(1, 3, 2, 2)).item() > 0


def test_attention_loss_is_the_batch_mean_of_squared_distances_of_normalised_maps():
    torch.manual_seed(0)
    student, teacher = torch.randn(3, 4, 2, 3), torch.randn(3, 7, 2, 3)

    def normalised_map(sample):  # (C, H, W) -> mean over channels of f^2, flattened, unit L2 norm
        channels = sample.tolist()
        energy = [sum(channel[i][j] ** 2 for channel in channels) / len(channels)
                  for i in range(len(channels[0])) for j in range(len(channels[0][0]))]
        norm = sum(value ** 2 for value in energy) ** 0.5
        return [value / norm for value in energy]

    distances = [sum((s - t) ** 2 for s, t in zip(normalised_map(student[n]), normalised_map(teacher[n])))
                 for n in range(3)]
    assert attention_loss(student, teacher).item() == pytest.approx(sum(distances) / 3, rel=1e-5)
    # one sample at the largest distance (2, disjoint maps), one at 0: the mean over the batch is 1
    disjoint = torch.zeros(2, 1, 1, 2)
    disjoint[0, 0, 0, 0] = disjoint[1, 0, 0, 1] = 1.0
    other = torch.zeros(2, 3, 1, 2)
    other[0, :, 0, 1] = other[1, :, 0, 1] = 5.0
    assert attention_loss(disjoint, other).item() == pytest.approx(1.0)
    # 2-D features: f^2 itself is the map; [sqrt(3), -2] -> [3, 4] / 5 = [0.6, 0.8] against [0, 1]
    flat = torch.tensor([[3 ** 0.5, -2.0]])
    assert attention_loss(flat, torch.tensor([[0.0, 2.0]])).item() == pytest.approx(0.6 ** 2 + 0.2 ** 2)


def test_attention_loss_pools_the_larger_map_to_the_smaller():
    torch.manual_seed(0)
    small = torch.rand(2, 4, 4, 4)
    large = small.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # the same map at 8x8
    assert attention_loss(large, small).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_loss(small, large).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_loss(torch.rand(2, 3, 8, 8), small).item() > 0


def test_mse_loss_is_the_mean_squared_error():
    a = torch.zeros(2, 2, 1, 2)
    b = torch.tensor([1.0, -2.0, 3.0, 0.0, 0.5, 0.0, -1.0, 4.0]).reshape(2, 2, 1, 2)
    # (1 + 4 + 9 + 0 + 0.25 + 0 + 1 + 16) / 8 elements: the mean over every element, not a sum or a per-sample mean
    assert mse_loss(a, b).item() == pytest.approx(31.25 / 8)
    assert mse_loss(b, a).item() == pytest.approx(31.25 / 8)
    torch.manual_seed(0)
    a, b = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    by_hand = sum((x - y) ** 2 for x, y in zip(a.flatten().tolist(), b.flatten().tolist())) / a.numel()
    assert mse_loss(a, b).item() == pytest.approx(by_hand, rel=1e-5)


def test_mse_between_features_of_another_shape_is_a_user_error_naming_both_layers():
    student, teacher = models()
    hint = {"student": "conv2", "teacher": "conv2", "loss": "mse"}
    with pytest.raises(UserError, match=r"student 'conv2', teacher 'conv2'.*\(16, 8, 8\).*\(64, 8, 8\)"):
        DistillationLoss(section(hint), teacher, student, INPUT)
    assert not student.conv2._forward_hooks and not teacher.conv2._forward_hooks  # removed again
    twin = copy.deepcopy(student).eval()
    DistillationLoss(section(hint), twin, student, INPUT)  # equal shapes: accepted


def test_unknown_module_names_suggest_close_ones():
    student, teacher = models()
    with pytest.raises(UserError) as err:
        DistillationLoss(section({"student": "conv22", "teacher": "cnv3"}), teacher, student, INPUT)
    message = str(err.value)
    assert "distillation.hints[0].student: unknown student module 'conv22'; did you mean 'conv2'" in message
    assert "distillation.hints[0].teacher: unknown teacher module 'cnv3'; did you mean 'conv3'" in message
    assert "available: bn1, bn2" in message


def test_features_that_are_not_4d_or_2d_are_refused():
    student = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(0))
    teacher = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    hint = {"student": "1", "teacher": "0"}
    with pytest.raises(UserError, match=r"student's '1' gives a 1-D tensor"):
        DistillationLoss(section(hint), teacher, student, INPUT)


def test_the_probe_leaves_modes_and_batch_norm_statistics_as_they_were():
    student, teacher = models()
    student.train()
    student.dropout.eval()
    stats = copy.deepcopy(student.bn2.state_dict())
    DistillationLoss(section({"student": "conv2", "teacher": "conv2"}), teacher, student, INPUT)
    assert student.training and student.bn2.training and not student.dropout.training
    assert all(torch.equal(a, b) for a, b in zip(stats.values(), student.bn2.state_dict().values()))


def test_hooks_capture_the_named_modules_through_a_wrapper():
    student, _ = models()
    student.eval()
    tap = FeatureTap(student, ["conv2", "fc1", "conv2"])
    wrapped = torch.nn.Sequential(student)  # as a DistributedDataParallel wrapper calls the plain module
    images = torch.randn(3, *INPUT)
    wrapped(images)
    features = tap.take()
    assert set(features) == {"conv2", "fc1"} and tap.take() == {}
    assert torch.equal(features["conv2"], student.conv2(student.relu1(student.bn1(student.conv1(images)))))
    assert features["fc1"].shape == (3, 32)
    tap.remove()
    student(images)
    assert tap.take() == {}


def loss_with(hint_weight, start_epoch=0, epoch=0):
    student, teacher = models()
    student.eval()  # no dropout: the same outputs every call
    hint = {"student": "conv3", "teacher": "conv3", "weight": hint_weight}
    loss_fn = DistillationLoss(section(hint, start_epoch=start_epoch), teacher, student, INPUT)
    torch.manual_seed(1)
    images, targets = torch.randn(6, *INPUT), torch.randint(0, 10, (6,))
    return loss_fn(images, student(images), targets, epoch), loss_fn


def test_the_total_loss_adds_the_weighted_hint_term():
    with_hint, loss_fn = loss_with(2.0)
    without, zero_fn = loss_with(0.0)
    hint = loss_fn.epoch_components(1)["hint_0_loss"]
    assert hint > 0 and zero_fn.epoch_components(1)["hint_0_loss"] == pytest.approx(hint)
    assert (with_hint - without).item() == pytest.approx(2.0 * hint, rel=1e-4)
    with_hint.backward()  # gradients flow into the student through the hooked features


def test_before_start_epoch_there_is_no_hint_term():
    loss, loss_fn = loss_with(1.0, start_epoch=2, epoch=1)
    assert loss_fn.epoch_components(1) == {}
    assert not loss_fn.hints.student.outputs  # the captured features are not kept


def test_hints_are_checked_with_yaml_paths_and_lines():
    text = """version: 1
distillation:
  teacher: {arch: digits_cnn}
  hints:
    - {student: conv2, teacher: conv2, loss: l1}
    - {student: conv3, teacher: conv3, weight: -1}
"""
    with pytest.raises(ScheduleError) as err:
        parse_schedule_text(text)
    message = str(err.value)
    assert "distillation.hints[0].loss (line 5)" in message and "'attention' or 'mse'" in message
    assert "distillation.hints[1].weight (line 6)" in message


HINTED = """version: 1
model: {arch: digits_cnn_small}
dataset: {batch_size: 256}
training: {epochs: 1}
distillation:
  teacher: {checkpoint: TEACHER}
  temperature: 2.0
  hints:
    - {student: conv2, teacher: conv2, weight: 1.0, loss: attention}
    - {student: fc1, teacher: fc1, weight: 0.5, loss: attention}
"""


def test_a_short_run_with_hints_logs_each_hint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "teacher.pt"
    save_checkpoint({"arch": "digits_cnn", "num_classes": 10, "model_state": build_model("digits_cnn").state_dict()},
                    path)
    run, report = train_schedule(tmp_path, "run", HINTED.replace("TEACHER", str(path)))
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["hint_0_loss"] > 0 and record["hint_1_loss"] > 0 and record["distill_loss"] > 0
    assert report["top1"] >= 0 and not run.train_loss.teacher.training
