"""The `folder` dataset: a user's images in class folders, with or without train/val/test folders."""
import re

import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from compressor.compression.core.errors import DataNotFound, ScheduleError, UserError
from compressor.compression.schedule import parse_schedule_text
from compressor.datasets import DATASETS, DatasetConfig, build_datasets

CLASSES = ("cat", "ant", "bee")  # written out of order: classes are the sorted folder names


def bright_left_column(size=(8, 8), colour=(255, 255, 255)):
    """A black image whose left column is `colour`: a horizontal flip moves it to the right."""
    image = Image.new("RGB", size, (0, 0, 0))
    for y in range(size[1]):
        image.putpixel((0, y), colour)
    return image


def write_classes(folder, per_class=10, size=(8, 8), classes=CLASSES, image=None):
    for name in classes:
        (folder / name).mkdir(parents=True)
        for index in range(per_class):
            (image or bright_left_column(size)).save(folder / name / f"{name}{index}.png")


def config(path, **options):
    return DatasetConfig(name="folder", path=str(path), **options)


def build(path, shape=(3, 8, 8), num_classes=10, seed=0, **options):
    return build_datasets(config(path, **options), shape, num_classes, seed)


def files(dataset):
    return [path for path, _ in dataset.samples]


def test_class_folders_are_split_by_seeded_fractions(tmp_path):
    write_classes(tmp_path)
    splits = build(tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (24, 3, 3)
    assert splits.num_classes == 3 and splits.input_shape == (3, 8, 8)
    assert splits.train.classes == ["ant", "bee", "cat"]
    for dataset in (splits.train, splits.val, splits.test):
        for path, label in dataset.samples:
            assert f"/{splits.train.classes[label]}/" in path
    train, val, test = (set(files(d)) for d in (splits.train, splits.val, splits.test))
    assert not (train & val or train & test or val & test) and len(train | val | test) == 30
    x, y = splits.train[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and y == 0


def test_the_split_is_stable_ignores_the_training_seed_and_follows_split_seed(tmp_path):
    write_classes(tmp_path)
    first, again = build(tmp_path, seed=0), build(tmp_path, seed=123)
    for name in ("train", "val", "test"):
        assert files(getattr(first, name)) == files(getattr(again, name))
    other = build(tmp_path, split_seed=1)
    assert files(other.test) != files(first.test)
    wider = build(tmp_path, split=[0.6, 0.2, 0.2])
    assert (len(wider.train), len(wider.val), len(wider.test)) == (18, 6, 6)


def test_split_folders_keep_their_images_and_class_order(tmp_path):
    write_classes(tmp_path / "train", per_class=4)
    write_classes(tmp_path / "val", per_class=2, classes=("bee", "ant"))  # val may lack a class
    write_classes(tmp_path / "test", per_class=1)
    splits = build(tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 4, 3)
    assert all("/val/" in path for path in files(splits.val))
    assert sorted({label for _, label in splits.val.samples}) == [0, 1]  # ant, bee: train's indices
    assert [label for _, label in splits.test.samples] == [0, 1, 2]


@pytest.mark.parametrize("missing", ["val", "test"])
def test_a_missing_split_folder_is_taken_from_train(tmp_path, missing):
    write_classes(tmp_path / "train", per_class=10)
    kept = "test" if missing == "val" else "val"
    write_classes(tmp_path / kept, per_class=1)
    splits = build(tmp_path, split=[0.8, 0.1, 0.1])
    taken, own = getattr(splits, missing), getattr(splits, kept)
    assert len(taken) == 3 and len(own) == 3 and len(splits.train) == 27
    assert all("/train/" in path for path in files(taken))
    assert not set(files(taken)) & set(files(splits.train))


def test_shapes_follow_the_model_resize_crop_and_grayscale(tmp_path):
    write_classes(tmp_path, per_class=4, size=(16, 12))
    assert build(tmp_path, shape=(1, 8, 8)).val[0][0].shape == (1, 8, 8)
    coloured = build(tmp_path, shape=(3, 10, 10), grayscale=True).test[0][0]
    assert coloured.shape == (3, 10, 10) and torch.equal(coloured[0], coloured[2])
    assert build(tmp_path, resize=10).train[0][0].shape == (3, 8, 8)  # shorter side 10, then the model's 8x8
    assert build(tmp_path, resize=[12, 12], crop=6, image_size=6).val[0][0].shape == (3, 6, 6)
    for train_crop in ("random", "random_resized"):
        assert build(tmp_path, resize=[10, 10], train_crop=train_crop).train[0][0].shape == (3, 8, 8)
    with pytest.raises(UserError, match=r"train images come out 3x6x6 but the model takes 3x8x8.*image_size"):
        build(tmp_path, crop=6)


def test_images_are_scaled_to_one_then_normalised(tmp_path):
    write_classes(tmp_path, per_class=4, image=Image.new("RGB", (8, 8), (255, 0, 51)))
    plain = build(tmp_path).val[0][0]
    assert plain[:, 3, 3].tolist() == pytest.approx([1.0, 0.0, 0.2])
    normalised = build(tmp_path, mean=[0.5, 0.0, 0.2], std=[0.25, 1.0, 0.5]).val[0][0]
    assert normalised[:, 3, 3].tolist() == pytest.approx([2.0, 0.0, 0.0], abs=1e-6)
    shared = build(tmp_path, mean=[0.5], std=[0.5]).test[0][0]
    assert shared[:, 0, 0].tolist() == pytest.approx([1.0, -1.0, -0.6], abs=1e-6)
    with pytest.raises(UserError, match="mean has 2 values but the model takes 3 channels"):
        build(tmp_path, mean=[0.5, 0.5], std=[0.5])


def test_augment_applies_to_training_images_only(tmp_path):
    write_classes(tmp_path, per_class=4)
    splits = build(tmp_path, augment=[{"RandomHorizontalFlip": {"p": 1.0}}, "RandomAutocontrast"])
    for dataset, bright in ((splits.train, -1), (splits.val, 0), (splits.test, 0)):
        x = dataset[0][0]
        assert x[:, :, bright].min() == 1.0 and x.sum() == 3 * 8
    assert build(tmp_path, augment=[{"RandomRotation": {"degrees": 10}}]).train[0][0].shape == (3, 8, 8)


def test_augment_mistakes_name_the_transform():
    with pytest.raises(ValidationError, match=r"unknown augment transform 'RandomFlip'; did you mean "
                                              r"'RandomHorizontalFlip' or 'RandomVerticalFlip'.*available: "):
        DatasetConfig(name="folder", augment=["RandomFlip"])
    with pytest.raises(ValidationError, match=r"augment RandomRotation: unknown argument 'degree'; did you mean "
                                              r"'degrees'"):
        DatasetConfig(name="folder", augment=[{"RandomRotation": {"degree": 10}}])
    with pytest.raises(ValidationError, match="augment RandomRotation: missing argument degrees"):
        DatasetConfig(name="folder", augment=["RandomRotation"])
    with pytest.raises(ValidationError, match="augment RandomRotation: If degrees is a single number"):
        DatasetConfig(name="folder", augment=[{"RandomRotation": {"degrees": -3}}])
    with pytest.raises(ValidationError, match="unknown augment transform 'Compose'"):
        DatasetConfig(name="folder", augment=["Compose"])


def test_augment_that_breaks_images_is_reported_at_build(tmp_path):
    write_classes(tmp_path, per_class=4)
    with pytest.raises(UserError, match="RandomCrop failed on the first train image"):
        build(tmp_path, augment=[{"RandomCrop": {"size": 20}}])
    with pytest.raises(UserError, match="train images come out 3x12x12 but the model takes 3x8x8"):
        build(tmp_path, augment=[{"Pad": {"padding": 2}}])


def test_missing_path_and_folders_without_classes_or_images(tmp_path):
    with pytest.raises(UserError, match="needs a folder: set dataset.path"):
        build_datasets(DatasetConfig(name="folder"), (3, 8, 8), 10, 0)
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'nowhere'} does not exist")):
        build(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(UserError, match="is not a folder"):
        build(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=re.escape(f"no class folders in {tmp_path / 'empty'}")):
        build(tmp_path / "empty")
    write_classes(tmp_path / "data", per_class=3, classes=("ant", "bee"))
    (tmp_path / "data" / "cat").mkdir()
    (tmp_path / "data" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(UserError, match=re.escape(f"no images in class folder {tmp_path / 'data' / 'cat'} ")):
        build(tmp_path / "data", num_classes=2)  # said before the class count the empty folder adds


def test_an_unreadable_image_is_named(tmp_path):
    write_classes(tmp_path / "data", per_class=4)
    (tmp_path / "data" / "ant" / "broken.png").write_bytes(b"\x89PNG garbage")
    splits = build(tmp_path / "data")
    everything = [*splits.train.samples, *splits.val.samples, *splits.test.samples]
    split = next(data for data in (splits.train, splits.val, splits.test)
                 if any(path.endswith("broken.png") for path, _ in data.samples))
    index = next(i for i, (path, _) in enumerate(split.samples) if path.endswith("broken.png"))
    assert len(everything) == 13
    with pytest.raises(UserError, match=r"cannot read image .*broken.png \(UnidentifiedImageError\)"):
        split[index]


def test_only_a_folder_that_is_not_there_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFound):
        build(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    write_classes(tmp_path / "three", per_class=5)
    for path, classes in ((tmp_path / "empty", 10), (tmp_path / "three", 2)):
        with pytest.raises(UserError) as error:
            build(path, num_classes=classes)
        assert not isinstance(error.value, DataNotFound), error.value


def test_class_counts(tmp_path):
    write_classes(tmp_path / "one", per_class=5, classes=("ant",))
    with pytest.raises(UserError, match="has 1 class; at least 2 are needed"):
        build(tmp_path / "one")
    write_classes(tmp_path / "three", per_class=5)
    with pytest.raises(UserError, match=r"has 3 classes but the model predicts 2 \(set model.num_classes: 3\)"):
        build(tmp_path / "three", num_classes=2)
    write_classes(tmp_path / "tiny", per_class=1, classes=("ant", "bee"))
    with pytest.raises(UserError, match="has 2 images, too few to split off val and test"):
        build(tmp_path / "tiny")


def test_split_folders_must_agree_with_train(tmp_path):
    write_classes(tmp_path / "a" / "train", per_class=2, classes=("ant", "bee"))
    write_classes(tmp_path / "a" / "val", per_class=1, classes=("ant", "dog"))
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'a' / 'val'} has class folder dog that")):
        build(tmp_path / "a")
    write_classes(tmp_path / "b" / "val", per_class=1)
    with pytest.raises(UserError, match="has val/ but no train/"):
        build(tmp_path / "b")


@pytest.mark.parametrize("split", [[0.5, 0.5], [0.8, 0.2, 0.0], [0.5, 0.3, 0.3], [1.2, -0.1, -0.1]])
def test_split_fractions_are_three_positive_numbers_summing_to_one(tmp_path, split):
    with pytest.raises(ValidationError, match="split must be 3 positive fractions"):
        DatasetConfig(name="folder", path=str(tmp_path), split=split)
    with pytest.raises(ScheduleError, match=r"dataset.split \(line 1\): .*split must be 3 positive fractions"):
        parse_schedule_text(f"dataset: {{name: folder, path: {tmp_path}, split: {split}}}\n")


def test_options_belong_to_the_datasets_that_take_them():
    with pytest.raises(ValidationError, match=r"dataset 'digits' takes no augment, resize \(options of folder\)"):
        DatasetConfig(name="digits", resize=8, augment=["RandomHorizontalFlip"])
    with pytest.raises(ValidationError, match=r"takes no path \(options of folder, npz\)"):
        DatasetConfig(name="mnist", path="x")
    with pytest.raises(ValidationError, match="path: name the dataset they are for"):
        DatasetConfig(path="x")
    with pytest.raises(ValidationError, match="takes no crop"):
        DatasetConfig(name="npz", crop=8)
    with pytest.raises(ScheduleError, match=r"dataset.patth \(line 1\): unknown argument 'patth'; did you mean "
                                            r"'path'"):
        parse_schedule_text("dataset: {name: folder, patth: data}\n")
    assert DatasetConfig(name="digits", data_dir="x", size=3).size == 3  # as before


def test_registry_and_schema_describe_the_new_options():
    folder_options = set(DATASETS.get("folder").config.model_fields)
    assert {"path", "split", "split_seed", "resize", "crop", "train_crop", "mean", "std", "grayscale",
            "augment"} <= folder_options
    assert {"path", "split", "mean", "std", "augment"} <= set(DATASETS.get("npz").config.model_fields)
    assert "path" not in DATASETS.get("digits").config.model_fields
    schema = DatasetConfig.model_json_schema()
    assert folder_options <= set(schema["properties"])
    assert all(field.get("description") for field in schema["properties"].values())


def test_a_schedule_trains_on_a_folder(tmp_path):
    from compressor.compression.training import TrainOptions, apply_overrides, fit, prepare_run

    write_classes(tmp_path / "data", per_class=8, image=Image.new("L", (8, 8), 128))
    text = (f"version: 1\nmodel: {{arch: digits_cnn}}\n"
            f"dataset: {{name: folder, path: {tmp_path / 'data'}, batch_size: 8, mean: [0.5], std: [0.25],\n"
            f"          augment: [RandomHorizontalFlip]}}\n"
            f"training: {{epochs: 1, lr: 0.05}}\n")
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(tmp_path / "run")))
    run = prepare_run(schedule, write_tensorboard=False)
    assert len(run.loaders.train.dataset) == 20 and run.loaders.train.dataset[0][0].shape == (1, 8, 8)
    report = fit(run)
    assert report["dataset"] == "folder" and 0 <= report["top1"] <= 100
    assert (tmp_path / "run" / "best.pt").exists()
