"""A checkpoint trained on your own data is evaluated on that data, preprocessed as it was trained."""
import os

from PIL import Image

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: folder, path: data, batch_size: 8, mean: [0.5], std: [0.25]}
training: {epochs: 1, lr: 0.05}
"""


def write_images(folder):
    for index, name in enumerate(("ant", "bee", "cat")):
        (folder / name).mkdir(parents=True)
        for number in range(10):
            Image.new("L", (8, 8), 40 + 80 * index + number).save(folder / name / f"{number}.png")


def test_evaluate_rebuilds_the_folder_data_from_the_checkpoint_elsewhere(cli, tmp_path, monkeypatch):
    write_images(tmp_path / "train_here" / "data")
    (tmp_path / "train_here" / "s.yaml").write_text(SCHEDULE)
    monkeypatch.chdir(tmp_path / "train_here")  # the schedule's path is relative to here
    trained = cli("train", "--schedule", "s.yaml", "--out", "run", "--json")
    assert trained.code == 0, trained.err
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    checkpoint = os.path.join(tmp_path, "train_here", "run", "best.pt")
    evaluated = cli("evaluate", "--checkpoint", checkpoint, "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["dataset"] == "folder" and evaluated.json()["samples"] == 3  # 10% of 30 images
    assert abs(evaluated.json()["top1"] - trained.json()["top1"]) < 1e-6  # the same images, the same mean/std
    moved = cli("evaluate", "--checkpoint", checkpoint, "--dataset", "folder",
                       "--data-dir", os.path.join(tmp_path, "train_here", "data"), "--json")
    assert moved.code == 0, moved.err  # a new --data-dir replaces the recorded path only
    assert moved.json()["loss"] == evaluated.json()["loss"]
