"""What each timm family can go through (the README's capability table): one model per family on 3x32x32
inputs, 10 classes, through the library functions the commands call."""
import copy

import pytest
import torch
import yaml
from torch import nn

pytest.importorskip("timm")

import compressor  # noqa: E402  (after the skip: these tests need timm)
from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from compressor.compression.core.errors import UserError  # noqa: E402
from compressor.compression.models import build_model  # noqa: E402
from compressor.compression.restore import model_from_checkpoint  # noqa: E402
from compressor.compression.sparsity import prunable_weights  # noqa: E402
from compressor.compression.thinning import remove_structures, zero_filters_of, zero_weakest_filter_groups  # noqa: E402
from compressor.compression.workflows.thin_checkpoint import thin_checkpoint  # noqa: E402
from helpers import give_batchnorms_statistics  # noqa: E402

FAMILIES = {"resnet": "resnet18", "convnext": "convnext_atto", "efficientnet": "test_efficientnet",
            "mobilenetv3": "mobilenetv3_small_050", "regnet": "regnetx_002", "vit": "deit_tiny_patch16_224"}
SHAPE = (3, 32, 32)
CLASSES = 10
family_names = pytest.mark.parametrize("family", list(FAMILIES))


def arch(family):
    return f"timm/{FAMILIES[family]}"


def images(count, seed=0):
    return torch.randn(count, *SHAPE, generator=torch.Generator().manual_seed(seed))


def relative_error(actual, expected):
    return float((actual - expected).norm() / expected.norm())


@pytest.fixture(scope="module")
def models():
    """family -> its model built for 3x32x32 inputs and 10 classes (shared: tests that change it take a copy)."""
    built = {}

    def get(family):
        if family not in built:
            torch.manual_seed(0)
            built[family] = give_batchnorms_statistics(build_model(arch(family), num_classes=CLASSES, input_shape=SHAPE))
        return built[family]

    return get


@pytest.fixture(scope="module")
def quantizers(models):
    """family -> (PostTrainLinearQuantizer after prepare_model, calibration batches)."""
    prepared = {}

    def get(family):
        if family not in prepared:
            model = models(family)
            batches = list(images(16, seed=1).split(8))
            stats = compressor.collect_stats(model, batches)
            quantizer = compressor.PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=stats,
                                                            per_channel_wts=True)
            quantizer.prepare_model(batches[0][:1])
            prepared[family] = quantizer, batches
        return prepared[family]

    return get


@family_names
def test_trains_with_agp_masks_held(family, models, tmp_path):
    model = copy.deepcopy(models(family))
    weights = [name for name, _ in sorted(prunable_weights(model), key=lambda item: -item[1].numel())[:2]]
    schedule = tmp_path / "agp.yaml"
    schedule.write_text(yaml.safe_dump({
        "version": 1,
        "pruners": {"agp": {"class": "AutomatedGradualPruner", "initial_sparsity": 0.3, "final_sparsity": 0.6,
                            "weights": weights}},
        "policies": [{"pruner": {"instance_name": "agp"}, "starting_epoch": 0, "ending_epoch": 2}]}))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = compressor.CompressionScheduler.from_yaml(schedule, model, optimizer, input_shape=SHAPE)
    parameters = dict(model.named_parameters())
    x, y = images(4), torch.arange(4) % CLASSES
    before = {name: p.detach().clone() for name, p in parameters.items()}
    model.train()
    for epoch in range(2):
        scheduler.on_epoch_begin(epoch)
        scheduler.on_minibatch_begin(epoch, 0, 1)
        loss = scheduler.before_backward_pass(epoch, 0, 1, nn.functional.cross_entropy(model(x), y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.on_minibatch_end(epoch, 0, 1)
        scheduler.on_epoch_end(epoch)
        if epoch == 0:
            first_zeros = {name: parameters[name].detach() == 0 for name in weights}
    assert torch.isfinite(loss)
    assert any(not torch.equal(before[name], p) for name, p in parameters.items() if name not in weights)
    for name in weights:  # the momentum step moved every weight; the masks put the pruned ones back to zero
        zeros = parameters[name].detach() == 0
        assert zeros.float().mean() > first_zeros[name].float().mean() >= 0.29
        assert bool(zeros[first_zeros[name]].all())


@family_names
def test_filter_pruning_thins_and_the_checkpoint_rebuilds(family, models, tmp_path):
    model = copy.deepcopy(models(family))
    zero_weakest_filter_groups(model, torch.zeros(1, *SHAPE), 0.5)
    x = images(2)
    with torch.no_grad():
        expected = model(x)
    save_checkpoint({"arch": arch(family), "num_classes": CLASSES, "input_shape": list(SHAPE),
                     "model_state": model.state_dict()}, tmp_path / "masked.pt")

    thinned = thin_checkpoint(load_checkpoint(tmp_path / "masked.pt"))  # `compressor thin`

    summary = thinned["thinning_summary"]
    assert summary["params_after"] < 0.8 * summary["params_before"] and summary["skipped"] == []
    save_checkpoint(thinned, tmp_path / "thin.pt")
    rebuilt, info = model_from_checkpoint(load_checkpoint(tmp_path / "thin.pt"))  # evaluate, quantize, export
    assert info.input_shape == SHAPE and sum(p.numel() for p in rebuilt.parameters()) == summary["params_after"]
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(x), expected, rtol=0, atol=1e-4)


def test_vit_thinning_removes_mlp_width_and_refuses_attention_heads(models):
    model = copy.deepcopy(models("vit"))
    example = torch.zeros(1, *SHAPE)
    zero_weakest_filter_groups(model, example, 0.5)
    zero_filters_of(model, example, "blocks.0.attn.qkv", list(range(64)))  # as a structure pruner on qkv would

    with pytest.raises(UserError, match=r"attention 'blocks.0.attn' \(3 heads\).*not whole heads"):
        remove_structures(model, example, layers=["blocks.0.attn.qkv"])  # `compressor thin --layer`
    plan = remove_structures(model, example)

    assert [item["layer"] for item in plan.skipped] == ["blocks.0.attn.qkv"]
    assert all(model.blocks[i].mlp.fc1.out_features == 384 for i in range(12))  # 768 -> 384: half the MLP width
    assert model.blocks[0].attn.qkv.out_features == 576


@family_names
def test_sensitivity_prunes_each_weight_alone_and_restores_it(family, models):
    model = models(family)
    names = [name for name, _ in prunable_weights(model)][:2]
    saved = {name: p.detach().clone() for name, p in model.named_parameters()}
    x = images(4)
    with torch.no_grad():
        dense = model(x)

    def change(m):
        with torch.no_grad():
            return float((m(x) - dense).abs().max())

    rows = compressor.sensitivity(model, change, [0.0, 0.5], parameters=names)

    assert [(row.parameter, row.sparsity) for row in rows] == [(n, s) for n in names for s in (0.0, 0.5)]
    assert [row.top1 == 0.0 for row in rows] == [True, False, True, False]
    assert all(torch.equal(p, saved[name]) for name, p in model.named_parameters())


@family_names
def test_post_training_quantization_simulated(family, models, quantizers):
    quantizer, batches = quantizers(family)
    x = batches[0]
    with torch.no_grad():
        expected, simulated = models(family)(x), quantizer.model(x)
    assert not torch.equal(simulated, expected)
    assert relative_error(simulated, expected) < 0.25


@pytest.mark.filterwarnings("ignore:All inputs of this cat operator")  # the ViT's class token joins the patches
@family_names
def test_real_int8_model(family, models, quantizers):
    quantizer, batches = quantizers(family)
    int8 = quantizer.convert_to_int8(batches)  # `compressor quantize --stats`
    quantized = (torch.ao.nn.quantized.Conv2d, torch.ao.nn.quantized.Linear, torch.ao.nn.intrinsic.quantized.ConvReLU2d)
    assert any(isinstance(module, quantized) for module in int8.module.modules())
    assert batchnorm_ops(int8.module) == []  # fused into the convolutions, timm's BatchNormAct2d too
    x = batches[0]
    with torch.no_grad():
        if family == "vit":  # every Linear quantized, a random model's small logits: 0.25 on an 8-bit CPU
            assert relative_error(int8(x), models(family)(x)) < 0.5  # (outputs with nothing in common: ~1.4)
        else:
            assert relative_error(int8(x), models(family)(x)) < 0.25
            assert relative_error(int8(x), quantizer.model(x)) < 0.1


def batchnorm_ops(graph_module):
    """The BatchNorm modules and functional batch_norm calls of a converted model (FP32 or int8)."""
    modules = dict(graph_module.named_modules())
    return [node.name for node in graph_module.graph.nodes
            if (node.op == "call_function" and "batch_norm" in str(node.target))
            or (node.op == "call_module" and isinstance(modules[node.target], nn.modules.batchnorm._BatchNorm))]


@family_names
def test_onnx_export(family, models, tmp_path):
    pytest.importorskip("onnxruntime")
    result = compressor.export(models(family), tmp_path / "model.onnx", "onnx", input_shape=SHAPE)
    assert result.max_abs_diff < 1e-4 and result.file_bytes > 0
