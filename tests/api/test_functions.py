"""The library functions of `import compressor`, called as a user's script calls them."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import compressor
from helpers import random_digit_batches


@pytest.fixture(scope="module")
def trained():
    """A digits_cnn trained a little on seeded random data, and its calibration batches."""
    from compressor.compression.models import build_model

    torch.manual_seed(0)
    model = build_model("digits_cnn")
    batches = random_digit_batches(count=4, size=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for images, labels in batches * 3:
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval(), batches


def test_post_train_quantizer_simulates_then_builds_real_int8(trained, tmp_path):
    model, batches = trained
    stats = compressor.collect_stats(model, batches)
    assert {"conv1", "fc2"} <= set(stats)
    quantizer = compressor.PostTrainLinearQuantizer(copy.deepcopy(model), bits_activations=8, bits_parameters=8,
                                                    mode="ASYMMETRIC_UNSIGNED", per_channel_wts=True,
                                                    model_activation_stats=stats)
    simulated = quantizer.prepare_model(torch.zeros(1, 1, 8, 8))
    assert quantizer.model is simulated and "conv1.output_scale" in quantizer.linear_quant_params
    images = torch.cat([x for x, _ in batches])
    with torch.no_grad():
        fp32, sim = model(images), simulated(images)
    int8 = quantizer.convert_to_int8([x for x, _ in batches])
    assert (sim.argmax(1) == fp32.argmax(1)).float().mean() >= 0.9
    assert (int8(images).argmax(1) == sim.argmax(1)).float().mean() >= 0.9
    assert any(p.is_quantized for p in int8.module.state_dict().values() if isinstance(p, torch.Tensor)) or \
        "Quantized" in str(int8.module)


def test_post_train_quantizer_reads_a_stats_file_and_refuses_bad_arguments(trained, tmp_path):
    model, batches = trained
    compressor.save_stats(compressor.collect_stats(model, batches), tmp_path / "stats.yaml")
    quantizer = compressor.PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=tmp_path / "stats.yaml")
    assert quantizer.prepare_model() is quantizer.model
    with pytest.raises(compressor.UserError, match="mode"):
        compressor.PostTrainLinearQuantizer(model, mode="LOGARITHMIC", model_activation_stats=tmp_path / "stats.yaml")
    with pytest.raises(compressor.UserError, match="needs model_activation_stats"):
        compressor.PostTrainLinearQuantizer(model)
    with pytest.raises(compressor.UserError, match="prepare_model"):
        compressor.PostTrainLinearQuantizer(model, model_activation_stats=tmp_path / "stats.yaml").convert_to_int8(
            [batches[0][0]])


def test_thin_removes_zeroed_filters_and_keeps_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 10)).eval()
    with torch.no_grad():
        model[0].weight[:3] = 0
        model[0].bias[:3] = 0
    x = torch.randn(2, 1, 8, 8)
    before = model(x)
    plan = compressor.thin(model, torch.zeros(1, 1, 8, 8))
    assert model[0].out_channels == 5 and model[2].in_channels == 5
    assert plan.params_after < plan.params_before
    assert torch.allclose(model(x), before, atol=1e-5)


def test_sensitivity_scores_each_layer_with_the_users_function_and_restores_weights(trained):
    model, batches = trained
    saved = copy.deepcopy(model.state_dict())
    images, labels = batches[0]
    calls = []

    def accuracy(m):
        calls.append(1)
        with torch.no_grad():
            return 100.0 * (m(images).argmax(1) == labels).float().mean().item()

    rows = compressor.sensitivity(model, accuracy, [0.0, 0.9], parameters=["conv1.weight", "fc2.weight"])
    assert [(r.parameter, r.sparsity) for r in rows] == [("conv1.weight", 0.0), ("conv1.weight", 0.9),
                                                         ("fc2.weight", 0.0), ("fc2.weight", 0.9)]
    assert len(calls) == 3  # the dense score is shared
    assert rows[0].top1 == pytest.approx(accuracy(model)) and math.isnan(rows[0].top5)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_distillation_loss_is_the_weighted_sum_of_its_terms():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0], [3.0, 0.0, 0.0]])
    targets = torch.tensor([0, 1])
    t = 2.0
    p_teacher = torch.softmax(teacher / t, 1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(student / t, 1))).sum(1).mean() * t * t
    ce = -torch.log_softmax(student, 1)[torch.arange(2), targets].mean()
    loss = compressor.distillation_loss(student, teacher, targets, temperature=t, distill_weight=0.7,
                                        student_weight=0.3)
    assert loss.item() == pytest.approx((0.3 * ce + 0.7 * kl).item(), rel=1e-6)
    with pytest.raises(compressor.UserError, match="differ in shape"):
        compressor.distillation_loss(student, teacher[:, :2], targets)


def test_export_writes_fp32_and_int8_files(trained, tmp_path):
    model, batches = trained
    fp32 = compressor.export(model, tmp_path / "m.pt2", "pt2", input_shape=(1, 8, 8))
    assert fp32.max_abs_diff < 1e-4 and not fp32.int8
    int8 = compressor.export(model, tmp_path / "q.pt2", "pt2", calibration=torch.cat([x for x, _ in batches]))
    assert int8.int8 and int8.top1_agreement >= 0.9
    with pytest.raises(compressor.UserError, match="input_shape"):
        compressor.export(model, tmp_path / "x.pt2", "pt2")


def test_a_checkpoint_packs_and_loads_back_as_a_model_or_a_state_dict(tmp_path):
    import torch

    from compressor.compression.core.checkpoint import save_checkpoint
    from compressor.compression.models import build_model

    model = build_model("digits_cnn", num_classes=10).eval()
    save_checkpoint({"arch": "digits_cnn", "input_shape": [1, 8, 8], "num_classes": 10,
                     "model_state": model.state_dict()}, tmp_path / "best.pt")
    result = compressor.pack(tmp_path / "best.pt", tmp_path / "m.cpk")
    assert result.max_abs_diff == 0.0 and result.file_bytes == (tmp_path / "m.cpk").stat().st_size
    images = torch.randn(3, 1, 8, 8)
    assert torch.equal(compressor.load_packed_model(tmp_path / "m.cpk")(images), model(images))
    state, record = compressor.read_packed(tmp_path / "m.cpk")
    assert record["arch"] == "digits_cnn" and all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_mistakes_in_what_is_passed_raise_user_error(trained, tmp_path):
    """What a user's script gets wrong is a UserError saying what, not a torch traceback from inside."""
    model, batches = trained
    (tmp_path / "agp.yaml").write_text("version: 1\n")
    (tmp_path / "not_packed.cpk").write_text("version: 1\n")
    mistakes = {
        "optimizer must be the torch.optim.Optimizer": lambda: compressor.CompressionScheduler.from_yaml(
            tmp_path / "agp.yaml", model, None),
        r"every level must be a number in \[0, 1\), got 1.5": lambda: compressor.sensitivity(
            model, lambda m: 50.0, [0.5, 1.5]),
        "evaluate_fn must return the score as a number, not NoneType": lambda: compressor.sensitivity(
            model, lambda m: None, [0.5]),
        r"does not run on a batch of input_shape \(1, 1, 8, 8\)": lambda: compressor.export(
            model, tmp_path / "m.onnx", "onnx", input_shape=(1, 1, 8, 8)),
        "not_packed.cpk: ": lambda: compressor.read_packed(tmp_path / "not_packed.cpk"),
        "the loader gave none": lambda: compressor.collect_stats(model, []),
        r"does not run on dummy_input of shape \(1, 3, 8, 8\)": lambda: compressor.PostTrainLinearQuantizer(
            copy.deepcopy(model), model_activation_stats=compressor.collect_stats(model, batches)).prepare_model(
            torch.zeros(1, 3, 8, 8)),
    }
    for message, call in mistakes.items():
        with pytest.raises(compressor.UserError, match=message):
            call()
    assert not (tmp_path / "m.onnx").exists()


def test_dir_lists_the_public_names_only():
    assert [name for name in dir(compressor) if not name.startswith("__")] == compressor.__all__
