"""Every user mistake: one clear message, exit 2, no traceback, nothing written."""
import pytest

LR = "lr_schedulers:\n  step: {class: StepLR, step_size: 1}\n"
CASES = {
    "syntax": ("version: 1\npolicies: [\n", "YAML syntax error"),
    "empty": ("", "empty"),
    "top_level_list": ("- a\n- b\n", "must be a mapping"),
    "unknown_class": ("lr_schedulers:\n  s: {class: StepLRR, step_size: 1}\n", "did you mean 'StepLR'"),
    "unknown_argument": ("lr_schedulers:\n  s: {class: StepLR, step_sise: 1}\n", "did you mean 'step_size'"),
    "undefined_instance": (LR + "policies:\n  - lr_scheduler: {instance_name: stepp}\n    epochs: [0]\n",
                           "policies[0].lr_scheduler.instance_name (line 4): 'stepp' is not defined under lr_schedulers"),
    "frequency_zero": (LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    ending_epoch: 3\n    frequency: 0\n",
                       "policies[0].frequency (line 6)"),
    "ending_before_start": (LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    starting_epoch: 3\n"
                            "    ending_epoch: 2\n", "must be greater than starting_epoch"),
    "wrong_type": ("training: {epochs: many}\n", "training.epochs (line 1)"),
    "epochs_and_range": (LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    epochs: [1]\n"
                         "    starting_epoch: 0\n", "not both"),
    "python_tag": ("version: !!python/object/apply:os.system ['echo pwned']\n", "refused YAML tag"),
    "unknown_model": ("model: {arch: resnet81}\n", "did you mean 'resnet18'"),
    "out_of_range": ("training: {lr: 0}\n", "training.lr (line 1)"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "train"])
def test_schedule_mistakes(cli, tmp_path, name, command):
    text, expected = CASES[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = cli(command, "--schedule", path, "--out", tmp_path / "run") if command == "train" \
        else cli(command, "--schedule", path)
    assert result.code == 2, result.err
    assert expected in result.err
    assert "Traceback" not in result.err and result.out == ""
    assert not (tmp_path / "run").exists()


def test_missing_schedule_file(cli, tmp_path):
    result = cli("validate", "--schedule", tmp_path / "nope.yaml")
    assert result.code == 2 and "file not found" in result.err


@pytest.mark.parametrize("args, expected", [
    (["train", "--schedule", "schedules/digits_baseline.yaml", "--lr", "-1"], "--lr -1.0"),
    (["train", "--schedule", "schedules/digits_baseline.yaml", "--arch", "resnt18"], "did you mean 'resnet18'"),
    (["train", "--schedule", "schedules/digits_baseline.yaml", "--device", "gpu"], "--device 'gpu'"),
    (["train", "--schedule", "schedules/digits_baseline.yaml", "--epochs", "x"], "is not a valid integer"),
    (["train"], "give --schedule"),
    (["evaluate", "--checkpoint", "missing.pt"], "checkpoint not found"),
    (["evaluate"], "exactly one of --checkpoint"),
    (["summary", "--arch", "alexnett"], "did you mean 'alexnet'"),
    (["evaluate", "--arch", "digits_cnn", "--dataset", "digitz"], "did you mean 'digits'"),
    (["list", "prunerz"], "Invalid value"),
    (["evaluate", "--arch", "digits_cnn", "--threads", "0"], "--threads must be at least 1"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["evalute"], "did you mean 'evaluate'"),
])
def test_command_line_mistakes(cli, tmp_path, args, expected):
    result = cli(*args, "--out", tmp_path / "o") if args[0] == "train" and len(args) > 1 else cli(*args)
    assert result.code == 2, (result.code, result.err)
    assert expected in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def _npz(path, labels=None, drop=(), float_labels=False):
    """20 grey 8x8 images (N x H x W) with labels 0..4, or `labels`; `drop`: keys left out."""
    import numpy as np

    train = np.arange(20) % 5 if labels is None else np.asarray(labels)
    data = {"x_train": np.zeros((20, 8, 8), np.uint8), "y_train": train.astype(np.float32 if float_labels else int),
            "x_test": np.zeros((5, 8, 8), np.uint8), "y_test": np.arange(5)}
    np.savez(path, **{key: value for key, value in data.items() if key not in drop})
    return f"{{name: npz, path: {path}}}"


def _folder(path):
    from PIL import Image

    for name in ("ant", "bee", "cat", "dog"):
        (path / name).mkdir(parents=True)
        for index in range(5):
            Image.new("L", (8, 8), 40 * index).save(path / name / f"{index}.png")
    return f"{{name: folder, path: {path}}}"


DATA_CASES = {
    "label_past_the_classes": (lambda tmp: _npz(tmp / "d.npz", labels=[7] + [0, 1, 2, 3, 4] * 3 + [0, 1, 2, 3]),
                               "y_train has label 7"),
    "more_classes_than_the_model": (lambda tmp: _npz(tmp / "d.npz", labels=range(20)), "y_train has label 19"),
    "missing_arrays": (lambda tmp: _npz(tmp / "d.npz", drop=("x_train", "y_train")), "lacks x_train, y_train"),
    "float_labels": (lambda tmp: _npz(tmp / "d.npz", float_labels=True), "labels must be integer class indices"),
    "folder_classes": (lambda tmp: _folder(tmp / "images"), "has 4 classes but the model predicts 3"),
}


@pytest.mark.parametrize("name", sorted(DATA_CASES))
@pytest.mark.parametrize("command", ["validate", "train"])
def test_data_on_this_machine_that_train_refuses_validate_refuses_too(cli, tmp_path, name, command):
    make, expected = DATA_CASES[name]
    path = tmp_path / "s.yaml"
    classes = 3 if name == "folder_classes" else 5
    path.write_text(f"version: 1\nmodel: {{num_classes: {classes}}}\ndataset: {make(tmp_path)}\n"
                    "training: {epochs: 1}\n")
    out = ["--out", tmp_path / "run"] if command == "train" else []
    result = cli(command, "--schedule", path, *out)
    assert result.code == 2 and expected in result.err, (result.code, result.err)
    assert "Traceback" not in result.err and not (tmp_path / "run").exists()


def test_validate_stands_in_for_data_files_not_on_this_machine(cli, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"version: 1\nmodel: {{num_classes: 5}}\ndataset: {{name: npz, path: {tmp_path / 'gone.npz'}}}\n")
    checked = cli("validate", "--schedule", path, "--json")
    assert checked.code == 0, checked.err
    assert checked.json()["notes"] == [f"dataset 'npz' not checked: dataset 'npz': {tmp_path / 'gone.npz'} does not "
                                       f"exist (dataset.path should name a .npz or .pt file)"]
    trained = cli("train", "--schedule", path, "--out", tmp_path / "run")
    assert trained.code == 2 and "gone.npz does not exist" in trained.err
