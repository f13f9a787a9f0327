"""timm models by name: what the registry knows of them, building them for an input shape, weights from
the local caches only, and the errors a wrong name or a missing package gives."""
import sys

import pytest
import torch

pytest.importorskip("timm")

from compressor.compression.core.errors import UserError  # noqa: E402
from compressor.compression.models import ModelInfo, build_model, model_info, timm_zoo  # noqa: E402
from compressor.compression.schedule import parse_schedule_text  # noqa: E402

SMALL = "timm/mobilenetv3_small_050"
SMALL_FILE = "mobilenetv3_small_050_lambc-4b7bbe87.pth"  # the file name of its weights' URL
SMALL_HF_REPO = "models--timm--mobilenetv3_small_050.lamb_in1k"


def test_model_info_comes_from_timms_pretrained_config():
    assert model_info("timm/resnet18") == ModelInfo("timm/resnet18", (3, 224, 224), 1000, "imagenet",
                                                    "timm model resnet18")
    assert model_info("timm/inception_v3").input_shape == (3, 299, 299)
    assert model_info("timm/resnet18.a1_in1k", (1, 28, 28), 10).input_shape == (1, 28, 28)
    assert model_info("timm/vit_tiny_patch16_224.augreg_in21k").num_classes == 21843
    assert model_info("timm/vit_tiny_patch16_224.augreg_in21k").default_dataset == ""  # not ImageNet-1k


def test_a_vit_is_built_for_the_input_shape_asked_for():
    model = build_model("timm/deit_tiny_patch16_224", num_classes=10, input_shape=(3, 32, 32)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model.pos_embed.shape[1] == 1 + 2 * 2  # the class token and a 2x2 grid of 16-pixel patches


def test_a_cnn_takes_any_size_and_other_channel_counts():
    model = build_model(SMALL, num_classes=3, input_shape=(1, 40, 48)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 40, 48)).shape == (1, 3)
    assert build_model(SMALL).classifier.out_features == 1000


@pytest.mark.parametrize("name,suggested", [("timm/resnet81", "timm/resnet18"),
                                            ("timm/deit_tiny_patch16_22", "timm/deit_tiny_patch16_224"),
                                            ("timm/resnet18.a1_in1kk", "timm/resnet18.a1_in1k")])
def test_an_unknown_name_suggests_close_ones(name, suggested):
    with pytest.raises(UserError, match=f"unknown timm .*'{name}'; did you mean '{suggested}'"):
        model_info(name)


def test_without_timm_the_message_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    monkeypatch.setattr(timm_zoo, "_ENTRIES", {})
    with pytest.raises(UserError, match=r"timm .*not installed: pip install 'compressor\[timm\]'"):
        model_info("timm/resnet18")


def test_a_schedule_may_name_a_timm_model():
    schedule = parse_schedule_text("version: 1\nmodel: {arch: timm/resnet18}\n")
    assert schedule.model.arch == "timm/resnet18"  # checked when built, with timm's names


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch.hub and Hugging Face caches: (torch checkpoints folder, Hugging Face hub folder)."""
    import huggingface_hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "torch" / "checkpoints", tmp_path / "hf"


def test_pretrained_weights_missing_say_where_they_were_looked_for(caches):
    torch_folder, hf_folder = caches
    with pytest.raises(UserError) as error:
        build_model(SMALL, pretrained=True)
    message = str(error.value)
    assert str(torch_folder / SMALL_FILE) in message and str(hf_folder / SMALL_HF_REPO) in message
    assert "never downloaded" in message
    assert not torch_folder.exists() and not hf_folder.exists()


def test_pretrained_weights_load_from_the_torch_cache(caches):
    torch_folder, _ = caches
    torch.manual_seed(1)
    reference = build_model(SMALL).state_dict()
    torch_folder.mkdir(parents=True)
    torch.save(reference, torch_folder / SMALL_FILE)

    loaded = build_model(SMALL, pretrained=True).state_dict()
    assert all(torch.equal(loaded[key], reference[key]) for key in reference)

    fresh_head = build_model(SMALL, num_classes=10, pretrained=True).state_dict()  # timm: a new classifier
    assert fresh_head["classifier.weight"].shape == (10, 1024)
    assert torch.equal(fresh_head["conv_stem.weight"], reference["conv_stem.weight"])


def test_pretrained_weights_load_from_the_hugging_face_cache(caches):
    from safetensors.torch import save_file

    _, hf_folder = caches
    torch.manual_seed(2)
    reference = build_model(SMALL).state_dict()
    repo = hf_folder / SMALL_HF_REPO
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    save_file({key: value.contiguous() for key, value in reference.items()},
              str(repo / "snapshots" / "0123abcd" / "model.safetensors"))

    loaded = build_model(SMALL, pretrained=True).state_dict()
    assert all(torch.equal(loaded[key], reference[key]) for key in reference)
