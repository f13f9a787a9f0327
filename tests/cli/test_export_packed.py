"""`export --format packed`: the file every command reads as a checkpoint, as small as its weights allow."""
import pytest
import torch

from compressor.compression.core.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def pruned_shared(dense_digits, tmp_path_factory):
    """The dense digits checkpoint with 97.5% of each Conv/Linear weight zeroed and the rest on 16 values."""
    payload = load_checkpoint(dense_digits)
    state = payload["model_state"]
    for key in [k for k in state if k.endswith("weight") and state[k].dim() > 1]:
        weight = state[key]
        keep = weight.abs() >= weight.abs().flatten().kthvalue(int(0.975 * weight.numel())).values
        levels = torch.linspace(float(weight.min()), float(weight.max()), 16)
        shared = levels[(weight.unsqueeze(-1) - levels).abs().argmin(-1)]
        state[key] = torch.where(keep, shared, torch.zeros(()))
    path = tmp_path_factory.mktemp("pruned_shared") / "best.pt"
    save_checkpoint(payload, path)
    return path


def test_a_packed_file_evaluates_and_summarizes_as_its_checkpoint(cli, dense_digits, tmp_path):
    out = tmp_path / "digits.cpk"
    exported = cli("export", "--checkpoint", dense_digits, "--format", "packed", "--out", out, "--json")
    assert exported.code == 0, exported.err
    report = exported.json()
    assert report["max_abs_diff"] == 0.0 and report["file_bytes"] == out.stat().st_size
    assert report["ratio_vs_fp32"] > 1.0  # dense FP32 weights still lose the file's pickling overhead
    expected = cli("evaluate", "--checkpoint", dense_digits, "--json").json()
    actual = cli("evaluate", "--checkpoint", out, "--json").json()
    assert (actual["top1"], actual["loss"]) == (expected["top1"], expected["loss"])
    summary = cli("summary", "--checkpoint", out, "--json").json()
    layers = summary["packed"]["layers"]
    assert {"conv1", "conv2", "conv3", "fc1", "fc2", "bn1"} <= set(layers)
    assert sum(layer["bytes"] for layer in layers.values()) < summary["packed"]["file_bytes"]
    assert 25 < layers["conv3"]["bits_per_weight"] < 33  # dense FP32 values stay 32 bits, less what zstd finds
    table = cli("summary", "--checkpoint", out)
    assert "bits/weight" in table.out + table.err and "record" in table.out + table.err


def test_pruned_and_shared_weights_pack_dozens_of_times_smaller(cli, pruned_shared, tmp_path):
    out = tmp_path / "small.cpk"
    report = cli("export", "--checkpoint", pruned_shared, "--format", "packed", "--out", out, "--json").json()
    assert report["max_abs_diff"] == 0.0
    assert report["ratio_vs_dense_fp32"] > 40  # BatchNorm and biases stay FP32: they bound this small model
    weights = {t["name"]: t for t in report["tensors"] if t["name"].endswith("weight") and t["numel"] > 1000}
    assert all(t["bits"] <= 4 and t["positions"] in ("gaps", "fixed_gaps") for t in weights.values())
    assert cli("evaluate", "--checkpoint", out, "--json").json()["top1"] == \
        cli("evaluate", "--checkpoint", pruned_shared, "--json").json()["top1"]


def test_negative_zeros_pack_as_zeros(cli, dense_digits, tmp_path):
    """Multiplying a negative weight by a zero mask gives -0.0: it computes as zero and must be stored as one."""
    payload = load_checkpoint(dense_digits)
    weight = payload["model_state"]["conv3.weight"]
    payload["model_state"]["conv3.weight"] = weight * (weight.abs() > weight.abs().median())  # half -0.0 or 0.0
    assert torch.signbit(payload["model_state"]["conv3.weight"][payload["model_state"]["conv3.weight"] == 0]).any()
    save_checkpoint(payload, tmp_path / "pruned.pt")
    report = cli("export", "--checkpoint", tmp_path / "pruned.pt", "--format", "packed", "--out",
                 tmp_path / "p.cpk", "--json").json()
    conv3 = next(t for t in report["tensors"] if t["name"] == "conv3.weight")
    assert conv3["nnz"] == int(torch.count_nonzero(payload["model_state"]["conv3.weight"]))
    assert report["max_abs_diff"] == 0.0


def test_a_qat_model_packs_the_codes_it_computes_with_and_trains_on(cli, dense_digits, tmp_path):
    schedule = tmp_path / "lsq.yaml"
    schedule.write_text("version: 1\nquantizers:\n  q: {class: LSQQuantizer, bits_weights: 4, bits_activations: 8, "
                        "per_channel_wts: true}\npolicies:\n  - quantizer: {instance_name: q}\n    starting_epoch: 0\n"
                        "    ending_epoch: 1\ntraining: {epochs: 1, lr: 0.01}\n")
    assert cli("train", "--schedule", schedule, "--checkpoint", dense_digits, "--out", tmp_path / "qat",
               "--threads", "1").code == 0
    out = tmp_path / "qat.cpk"
    report = cli("export", "--checkpoint", tmp_path / "qat" / "best.pt", "--format", "packed", "--out", out,
                 "--json").json()
    assert report["max_abs_diff"] == 0.0 and {"conv1", "conv2", "conv3", "fc1"} <= set(report["quantized_layers"])
    conv3 = next(t for t in report["tensors"] if t["name"] == "conv3.weight")
    assert conv3["values"] in ("grid", "channel_codebooks") and conv3["bits"] <= 4
    assert cli("evaluate", "--checkpoint", out, "--json").json()["top1"] == \
        cli("evaluate", "--checkpoint", tmp_path / "qat" / "best.pt", "--json").json()["top1"]
    repacked = cli("export", "--checkpoint", out, "--format", "packed", "--out", tmp_path / "again.cpk", "--json")
    assert repacked.json()["max_abs_diff"] == 0.0 and repacked.json()["quantized_layers"] == report["quantized_layers"]
    assert [t["packed_bytes"] for t in repacked.json()["tensors"]] == [t["packed_bytes"] for t in report["tensors"]]
    again = cli("train", "--schedule", schedule, "--checkpoint", out, "--out", tmp_path / "again", "--epochs", "1",
                "--threads", "1")
    assert again.code == 0, again.err


def test_binary_weights_pack_at_one_bit_and_compute_exactly_as_trained(cli, dense_digits, tmp_path):
    schedule = tmp_path / "binary.yaml"
    schedule.write_text("version: 1\nquantizers:\n  b: {class: BinaryQuantizer, first_last_bits_weights: 8}\n"
                        "policies:\n  - quantizer: {instance_name: b}\n    starting_epoch: 0\n    ending_epoch: 1\n"
                        "training: {epochs: 1, lr: 0.01}\n")
    assert cli("train", "--schedule", schedule, "--checkpoint", dense_digits, "--out", tmp_path / "run",
               "--threads", "1").code == 0
    report = cli("export", "--checkpoint", tmp_path / "run" / "best.pt", "--format", "packed", "--out",
                 tmp_path / "b.cpk", "--json").json()
    assert report["max_abs_diff"] == 0.0
    tensors = {t["name"]: t for t in report["tensors"]}
    for name in ("conv2.weight", "conv3.weight", "fc1.weight"):
        assert tensors[name]["values"] == "channel_codebooks" and tensors[name]["bits"] == 1, name
        assert tensors[name]["packed_bytes"] * 8 < 1.2 * tensors[name]["numel"] + 8 * 64 * tensors[name]["numel"] ** 0.5
    assert tensors["conv1.weight"]["bits"] != 1  # the first layer keeps 8 bits


def test_a_damaged_packed_file_is_refused_by_every_command(cli, dense_digits, tmp_path):
    out = tmp_path / "digits.cpk"
    assert cli("export", "--checkpoint", dense_digits, "--format", "packed", "--out", out).code == 0
    out.write_bytes(out.read_bytes()[:-100])
    for command in (["evaluate"], ["summary"], ["export", "--format", "onnx", "--out", tmp_path / "x.onnx"]):
        result = cli(*command, "--checkpoint", out)
        assert result.code == 2 and "truncated or altered" in result.err, command
    assert not (tmp_path / "x.onnx").exists()


def test_packing_refuses_int8_and_a_run_refuses_to_resume_from_a_packed_file(cli, dense_digits, tmp_path):
    out = tmp_path / "digits.cpk"
    refused = cli("export", "--checkpoint", dense_digits, "--format", "packed", "--int8", "--out", out)
    assert refused.code == 2 and "--int8" in refused.err and not out.exists()
    assert cli("export", "--checkpoint", dense_digits, "--format", "packed", "--out", out).code == 0
    resumed = cli("train", "--resume", out, "--out", tmp_path / "run")
    assert resumed.code == 2 and "no training state" in resumed.err and not (tmp_path / "run").exists()


def test_a_run_with_training_pack_ends_with_the_packed_file_and_its_ratio(cli, dense_digits, tmp_path):
    schedule = tmp_path / "pack.yaml"
    schedule.write_text("version: 1\ntraining: {epochs: 1, lr: 0.01, pack: true}\n")
    run = cli("train", "--schedule", schedule, "--checkpoint", dense_digits, "--out", tmp_path / "run",
              "--threads", "1", "--json")
    assert run.code == 0, run.err
    report = run.json()
    packed = tmp_path / "run" / "best.cpk"
    assert report["packed_file_bytes"] == packed.stat().st_size and report["packed_max_abs_diff"] == 0.0
    assert report["packed_ratio"] == pytest.approx(report["dense_file_bytes"] / report["packed_file_bytes"], rel=0.01)
    assert cli("evaluate", "--checkpoint", packed, "--json").json()["top1"] == report["top1"]
