"""A model trained in an own loop, saved with `compressor.save_checkpoint`, goes through the commands."""
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

import compressor
from compressor.cli.main import run
from compressor.compression.core.checkpoint import load_checkpoint
from compressor.compression.restore import model_from_checkpoint

from helpers import own_loop_epochs, seeded_model

ROOT = Path(__file__).resolve().parents[2]
ARCH = "examples.own_model:Net"
SCHEDULE = """
version: 1
pruners:
  filters:
    class: L1RankedStructureParameterPruner
    group_type: Filters
    desired_sparsity: 0.5
    weights: [features.3.weight]
quantizers:
  qat: {class: QuantAwareTrainRangeLinearQuantizer, bits_activations: 8, bits_weights: 8}
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
  - quantizer: {instance_name: qat}
    starting_epoch: 1
    ending_epoch: 2
"""


@pytest.fixture(scope="module")
def own_loop(tmp_path_factory):
    """examples/own_model.py's Net, filter-pruned, thinned and QAT-trained for two epochs in a plain loop."""
    sys.path.insert(0, str(ROOT))
    from examples.own_model import Net

    folder = tmp_path_factory.mktemp("own_loop")
    (folder / "schedule.yaml").write_text(SCHEDULE)
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = compressor.CompressionScheduler.from_yaml(folder / "schedule.yaml", model, optimizer,
                                                          input_shape=(1, 8, 8))
    own_loop_epochs(scheduler, model, optimizer, range(2))
    return folder, model, scheduler


def test_an_own_loops_thinned_qat_model_is_saved_and_every_command_rebuilds_it(own_loop):
    folder, model, scheduler = own_loop
    path = compressor.save_checkpoint(model, folder / "mine.pt", arch=ARCH, scheduler=scheduler)
    rebuilt, info = model_from_checkpoint(load_checkpoint(path))
    assert rebuilt.features[3].out_channels == 16 and info.input_shape == (1, 8, 8)
    example = torch.randn(4, 1, 8, 8)
    assert torch.equal(rebuilt.eval()(example), model.eval()(example))  # with its QAT quantizers on
    assert run(["evaluate", "--checkpoint", str(path), "--dataset", "fake"]) == 0
    assert run(["export", "--checkpoint", str(path), "--format", "packed", "--out", str(folder / "mine.cpk")]) == 0


class Doubled(nn.Module):
    """The same weights as examples/own_model.py's Net, another forward."""

    def __init__(self, net):
        super().__init__()
        self.features, self.classifier = net.features, net.classifier

    def forward(self, x):
        return 2 * self.classifier(self.features(x))


@pytest.mark.parametrize("arch,model,message", [
    ("digits_cnn", lambda net: net, "does not rebuild from arch 'digits_cnn'"),
    (ARCH, Doubled, "computes other outputs than the model given"),
])
def test_a_model_its_arch_does_not_rebuild_is_refused_and_nothing_written(tmp_path, arch, model, message):
    sys.path.insert(0, str(ROOT))
    from examples.own_model import Net

    with pytest.raises(compressor.UserError, match=message):
        compressor.save_checkpoint(model(Net()), tmp_path / "mine.pt", arch=arch)
    assert not (tmp_path / "mine.pt").exists()


@pytest.mark.parametrize("wrap", [nn.DataParallel, torch.compile, AveragedModel])
def test_a_wrapped_model_is_saved_as_the_module_inside(tmp_path, wrap):
    model = seeded_model()
    path = compressor.save_checkpoint(wrap(model), tmp_path / "mine.pt", arch="digits_cnn")
    assert load_checkpoint(path)["model_state"].keys() == model.state_dict().keys()


def test_the_class_count_is_the_models_output_size_and_an_input_it_cannot_take_is_refused(tmp_path):
    sys.path.insert(0, str(ROOT))
    from examples.own_model import Net

    path = compressor.save_checkpoint(Net(num_classes=5), tmp_path / "five.pt", arch=ARCH)
    assert load_checkpoint(path)["num_classes"] == 5
    assert model_from_checkpoint(load_checkpoint(path))[1].num_classes == 5
    with pytest.raises(compressor.UserError, match=r"does not run on an input of shape \(2, 3, 8, 8\)"):
        compressor.save_checkpoint(Net(), tmp_path / "rgb.pt", arch=ARCH, input_shape=(3, 8, 8))
    assert not (tmp_path / "rgb.pt").exists()


THIN = """
version: 1
pruners:
  filters: {class: L1RankedStructureParameterPruner, group_type: Filters, desired_sparsity: 0.5,
            weights: [features.3.weight]}
  agp: {class: AutomatedGradualPruner, initial_sparsity: 0.3, final_sparsity: 0.6, weights: [classifier.1.weight]}
extensions:
  thin: {class: FilterRemover, thinning_func_str: remove_filters}
policies:
  - pruner: {instance_name: filters}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
  - pruner: {instance_name: agp}
    starting_epoch: 0
    ending_epoch: 2
"""


def test_a_model_thinned_and_pruned_under_data_parallel_is_saved_with_its_records_and_masks(tmp_path):
    """The scheduler built on the DataParallel wrapper records the thinning and masks under 'module.' names."""
    sys.path.insert(0, str(ROOT))
    from examples.own_model import Net

    (tmp_path / "schedule.yaml").write_text(THIN)
    torch.manual_seed(0)
    model = nn.DataParallel(Net())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = compressor.CompressionScheduler.from_yaml(tmp_path / "schedule.yaml", model, optimizer,
                                                          input_shape=(1, 8, 8))
    own_loop_epochs(scheduler, model, optimizer, range(2))
    path = compressor.save_checkpoint(model, tmp_path / "mine.pt", arch=ARCH, scheduler=scheduler)
    payload = load_checkpoint(path)
    assert payload["thinning"] and all(not op["layer"].startswith("module.") for op in payload["thinning"])
    masks = payload["masks"]["masks"]
    assert "classifier.1.weight" in masks and all(name in dict(Net().named_parameters()) for name in masks)
    rebuilt, _ = model_from_checkpoint(payload)
    assert rebuilt.features[3].out_channels == 16


def test_an_ema_copy_of_a_pruned_model_is_refused_until_its_pruned_weights_are_zero(tmp_path):
    sys.path.insert(0, str(ROOT))
    from examples.own_model import Net

    (tmp_path / "schedule.yaml").write_text(THIN)
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = compressor.CompressionScheduler.from_yaml(tmp_path / "schedule.yaml", model, optimizer,
                                                          input_shape=(1, 8, 8))
    own_loop_epochs(scheduler, model, optimizer, range(1))
    ema = AveragedModel(model)
    with torch.no_grad():  # an average with weights from before the pruning
        ema.module.classifier[1].weight.add_(0.01)
    with pytest.raises(compressor.UserError, match=r"classifier.1.weight has \d+ non-zero weights where the "
                                                   r"scheduler's mask prunes them"):
        compressor.save_checkpoint(ema, tmp_path / "ema.pt", arch=ARCH, scheduler=scheduler)
    assert not (tmp_path / "ema.pt").exists()
    ema.module.classifier[1].weight.data.mul_(scheduler.masks.get("classifier.1.weight"))
    compressor.save_checkpoint(ema, tmp_path / "ema.pt", arch=ARCH, scheduler=scheduler)


def test_a_qat_model_saved_without_its_scheduler_is_told_to_pass_it(own_loop, tmp_path):
    _, model, _ = own_loop
    with pytest.raises(compressor.UserError, match="carries QAT quantizers: pass scheduler="):
        compressor.save_checkpoint(model, tmp_path / "mine.pt", arch=ARCH)
    assert not (tmp_path / "mine.pt").exists()


PAIR = """from torch import nn


class Pair(nn.Module):
    input_shape = (1, 8, 8)

    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1)), x  # logits and features: not a model the commands can use
"""


def test_a_model_that_returns_a_tuple_is_told_to_return_its_logits(tmp_path, monkeypatch):
    (tmp_path / "pair.py").write_text(PAIR)
    monkeypatch.syspath_prepend(str(tmp_path))
    from pair import Pair

    with pytest.raises(compressor.UserError, match="the model returns a tuple; it must return its logits"):
        compressor.save_checkpoint(Pair(), tmp_path / "pair.pt", arch="pair:Pair")
    assert not (tmp_path / "pair.pt").exists()


def test_a_factory_without_input_shape_is_told_to_pass_input_shape(tmp_path, monkeypatch):
    (tmp_path / "saved_without_shape.py").write_text(
        "from torch import nn\n\ndef make(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    arch = "saved_without_shape:make"
    with pytest.raises(compressor.UserError, match=r"or pass input_shape=\(C, H, W\)$"):
        compressor.save_checkpoint(model, tmp_path / "m.pt", arch=arch)
    assert compressor.save_checkpoint(model, tmp_path / "m.pt", arch=arch, input_shape=(1, 8, 8)).is_file()
