"""Distiller's names of a torchvision ResNet's operations (relu1, relu2, relu3, add) in stats files and overrides."""
import copy

import pytest
import torch
from torch import fx
from torchvision.models import resnet18, resnet50

from compressor.compression.core.errors import UserError
from compressor.compression.quantization.distiller_names import model_graph
from compressor.compression.quantization.int8_backend import SHARED, quantized_engine
from compressor.compression.quantization.post_train_quantizer import PostTrainLinearQuantizer
from compressor.compression.quantization.ptq import layer_plan, operation_plan
from compressor.compression.quantization.registration import post_train_config
from compressor.compression.quantization.stats import ModuleStats, collect_activation_stats, collect_module_stats
from compressor.compression.quantization.stats_format import StatsFile, check_stats_match_model, read_stats
from compressor.compression.schedule import parse_schedule_text
from helpers import distiller_example

RESNET18_STATS = "examples/quantization/post_train_quant/stats/resnet18_quant_stats.yaml"


def test_block_operations_take_distillers_names_in_call_order():
    names = [op.name for op in model_graph(resnet18(num_classes=10)).operations]
    block = [n for n in names if n.startswith("layer2.0.")]
    assert block == ["layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu1", "layer2.0.conv2", "layer2.0.bn2",
                     "layer2.0.downsample.0", "layer2.0.downsample.1", "layer2.0.add", "layer2.0.relu2"]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]  # outside blocks: the module's own name
    bottleneck = [n for n in (op.name for op in model_graph(resnet50(num_classes=10)).operations)
                  if n.startswith("layer1.1.") and ("relu" in n or "add" in n)]
    assert bottleneck == ["layer1.1.relu1", "layer1.1.relu2", "layer1.1.add", "layer1.1.relu3"]


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return resnet18(num_classes=10).eval(), [torch.randn(4, 3, 32, 32) for _ in range(2)]


def distiller_named_stats(model, batches):
    """Stats under Distiller's names, gathered as Distiller's own ResNet would see them: per call of each
    block's relu (relu1, relu2), and the addition's output as the input of the relu after it."""
    work = copy.deepcopy(model)
    stats = {name: s for name, s in collect_activation_stats(work, batches).items() if not name.endswith(".relu")}
    calls = {}
    for block_name, block in work.named_modules():
        if hasattr(block, "downsample"):  # a torchvision BasicBlock: relu called twice, in place
            block.relu.register_forward_pre_hook(
                lambda m, i, name=block_name: calls.setdefault(name, []).append([i[0].clone()]))
            block.relu.register_forward_hook(lambda m, i, o, name=block_name: calls[name][-1].append(o.clone()))
    with torch.no_grad():
        for batch in batches:
            work(batch)
    for block_name, seen in calls.items():
        relu1, relu2 = seen[0::2], seen[1::2]
        stats[f"{block_name}.relu1"] = _stats_of([o for _, o in relu1], [i for i, _ in relu1])
        stats[f"{block_name}.relu2"] = _stats_of([o for _, o in relu2], [i for i, _ in relu2])
        stats[f"{block_name}.add"] = _stats_of([i for i, _ in relu2], [i for i, _ in relu2])
    return stats


def _stats_of(outputs, inputs):
    """ModuleStats of `outputs`, with `inputs` as input 0."""
    out = collect_activation_stats(torch.nn.Sequential(torch.nn.Identity()), outputs)["0"].output
    into = collect_activation_stats(torch.nn.Sequential(torch.nn.Identity()), inputs)["0"].output
    return ModuleStats(output=out, inputs={0: into})


def test_distiller_named_ranges_quantize_the_matching_operations(resnet):
    model, batches = resnet
    stats = distiller_named_stats(model, batches)
    assert {"layer1.0.relu1", "layer1.0.relu2", "layer1.0.add"} <= set(stats) and "layer1.0.relu" not in stats
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=stats,
                                         mode={"activations": "ASYMMETRIC_UNSIGNED", "weights": "SYMMETRIC"},
                                         per_channel_wts=True)
    simulated = quantizer.prepare_model()
    report = quantizer.ranges_report()
    assert report["unused_ranges"] == {} and report["ranges_applied"] + len(report["ranges_fused"]) == len(stats)
    assert report["ranges_fused"]["layer1.0.relu2"] == "fused into layer1.0.add (its range starts at 0)"
    # the second relu call of layer1.0 quantizes on [0, max of the add]
    add_max = stats["layer1.0.add"].output.max
    seen = []
    simulated.get_submodule("layer1.0.relu").register_forward_hook(lambda m, i, o: seen.append(o))
    simulated(batches[0])
    assert seen[1].max() <= add_max + 1e-5 and seen[1].unique().numel() <= 256

    int8 = quantizer.convert_to_int8(batches)
    assert int8.unused_ranges == {"maxpool": SHARED, "avgpool": SHARED}  # pooling keeps its input's scale
    # every range the simulated model quantizes with is the int8 model's own scale at the same operation
    levels = 2 ** int8.activation_bits - 1
    outputs = int8_outputs(int8, batches[0])
    for node, tensor in (("quantize_per_tensor", "conv1.inputs.0"), ("conv1", "conv1"),
                         ("layer1_0_conv1", "layer1.0.conv1"), ("layer1_0_conv2", "layer1.0.conv2"),
                         ("add_relu", "layer1.0.add"), ("layer2_0_downsample_0", "layer2.0.downsample.0"),
                         ("add_relu_7", "layer4.1.add"), ("fc", "fc")):
        low, high = quantizer.simulated.ranges[tensor]
        assert outputs[node].q_scale() == pytest.approx((high - low) / levels, rel=1e-5), (node, tensor)
    assert quantizer.simulated.ranges["layer1.0.add"] == (0.0, pytest.approx(add_max))
    if int8.activation_bits < 8:
        return  # a CPU without VNNI: the int8 input has 128 levels, the simulated one 256
    # the first layer computes the same values (a rounding tie apart) from the same quantized input
    first = []
    simulated.get_submodule("relu").register_forward_hook(lambda m, i, o: first.append(o))
    simulated(batches[0])
    step = outputs["conv1"].q_scale()
    assert (first[0] - outputs["conv1"].dequantize()).abs().max() <= step * 1.01


def int8_outputs(int8, images):
    """The quantized output of every node of the converted int8 graph, by node name."""
    found = {}

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            result = super().run_node(node)
            if isinstance(result, torch.Tensor) and result.is_quantized:
                found[node.name] = result
            return result

    with quantized_engine(int8.engine), torch.no_grad():
        Recorder(int8.module).run(images)
    return found


def test_adds_set_to_fp32_by_their_distiller_name(resnet):
    model, batches = resnet
    stats = distiller_named_stats(model, batches)
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=stats,
                                         overrides={"layer1\\..*add": None})
    quantizer.prepare_model()
    assert quantizer.ranges_report()["unused_ranges"]["layer1.0.add"].startswith("not quantized")
    int8 = quantizer.convert_to_int8(batches)
    assert {"layer1.0.add", "layer1.1.add"} <= set(int8.fp32_modules)
    adds = [name for name in int8_outputs(int8, batches[0]) if name.startswith("add_relu")]
    assert len(adds) == 6  # the other blocks still add in int8


def test_a_distiller_name_matching_no_operation_is_refused_with_its_line(resnet, tmp_path):
    model, batches = resnet
    stats = StatsFile(dict(distiller_named_stats(model, batches)), "stats.yaml", {"layer1.0.relu3": 412})
    stats["layer1.0.relu3"] = stats["layer1.0.relu2"]  # a Bottleneck's name on a BasicBlock
    with pytest.raises(UserError, match=r"'layer1.0.relu3' \(stats.yaml line 412\)"):
        check_stats_match_model(stats, model)
    text = ("quantizers:\n  ptq:\n    class: PostTrainLinearQuantizer\n    overrides:\n"
            "      layer1.0.relu1: {bits_activations: 8}\n      layer1.0.relu3: {bits_activations: 8}\n")
    config = post_train_config(parse_schedule_text(text, "ptq.yaml"))
    with pytest.raises(UserError, match=r"ptq.yaml: quantizers.ptq.overrides.layer1.0.relu3 \(line 6\).*matches no"):
        layer_plan(config, model)


def test_lapq_examples_exact_names_keep_the_last_conv_and_relu_in_fp32():
    path = distiller_example("examples/quantization/post_train_quant/resnet18_imagenet_post_train_lapq.yaml")
    config = post_train_config(parse_schedule_text(path.read_text(), str(path)))
    model = resnet18(num_classes=10).eval()
    graph = model_graph(model)
    plan = operation_plan(config, model, graph, layer_plan(config, model, graph))
    # `layer4.1.conv2` and `layer4.1.relu2` come after the regexes `layer.*conv.*` and `layer.*relu.*`
    assert plan["layer4.1.conv2"] is None and plan["layer4.1.relu2"] is None
    assert plan["layer4.1.conv1"].bits_weights == 4 and plan["layer4.1.relu1"].bits_activations == 4


def test_collected_stats_of_a_torchvision_resnet_have_distillers_names_and_layout(resnet):
    model, batches = resnet
    stats = collect_activation_stats(model, batches)
    assert set(stats) == set(read_stats(distiller_example(RESNET18_STATS)))  # relu1, relu2, add per block
    add, identity = stats["layer1.0.add"], stats["maxpool"].output
    assert add.inputs[0] == stats["layer1.0.bn2"].output and add.inputs[1] == identity
    assert stats["layer1.0.relu2"].inputs[0] == add.output and stats["layer1.0.relu1"].output.min == 0.0
    assert stats["layer1.0.relu2"].output.max == add.output.max != stats["layer1.0.relu1"].output.max


def test_distillers_own_resnet18_stats_file_matches_torchvision_resnet18():
    stats = read_stats(distiller_example(RESNET18_STATS))
    model = resnet18().eval()
    check_stats_match_model(stats, model)  # every name is an operation of torchvision's resnet18
    quantizer = PostTrainLinearQuantizer(model, model_activation_stats=stats, clip_acts="AVG")
    quantizer.prepare_model()
    report = quantizer.ranges_report()
    assert report["stats_ranges"] == 68 and report["unused_ranges"] == {}
    assert report["ranges_fused"]["layer4.1.relu2"] == "fused into layer4.1.add (its range starts at 0)"
    assert quantizer.simulated.ranges["layer1.0.add"] == (0.0, pytest.approx(stats["layer1.0.add"].output.avg_max))


def test_compressor_stats_of_a_torchvision_resnet_still_apply_by_module_name(resnet):
    model, batches = resnet
    stats = collect_module_stats(model, batches)  # a file by module name: `layer1.0.relu` holds both of its calls
    quantizer = PostTrainLinearQuantizer(copy.deepcopy(model), model_activation_stats=stats)
    quantizer.prepare_model()
    report = quantizer.ranges_report()
    assert report["unused_ranges"] == {} and "layer1.0.relu" not in report["ranges_fused"]
    # no `add` in these stats: the block's second relu call quantizes the block's output with the module's range
    relu = stats["layer1.0.relu"].output
    assert quantizer.simulated.ranges["layer1.0.relu2"] == (0.0, pytest.approx(relu.max))
    assert "layer1.0.add" not in quantizer.simulated.ranges
