import re

import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from compressor.compression.core.errors import DataNotFound, UserError
from compressor.datasets import DatasetConfig, build_datasets, build_loaders


def digits(seed=0):
    return build_datasets(DatasetConfig(), (1, 8, 8), 10, seed)


def test_digits_split_sizes_and_shapes():
    splits = digits()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1077, 360, 360)
    x, y = splits.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert splits.num_classes == 10 and splits.input_shape == (1, 8, 8)


def test_digits_train_split_is_standardised():
    images, labels = digits().train.tensors
    assert abs(images.mean().item()) < 1e-4
    assert abs(images.std().item() - 1) < 1e-2
    assert set(labels.tolist()) == set(range(10))


def test_digits_split_is_fixed_and_ignores_the_seed():
    first, second = digits(seed=0), digits(seed=123)
    for name in ("train", "val", "test"):
        for a, b in zip(getattr(first, name).tensors, getattr(second, name).tensors):
            assert torch.equal(a, b)


def test_digits_rejects_other_input_shapes():
    with pytest.raises(UserError, match="1x8x8"):
        build_datasets(DatasetConfig(), (3, 32, 32), 10, 0)


@pytest.mark.parametrize("shape,classes", [((1, 28, 28), 10), ((3, 32, 32), 7)])
def test_fake_data_follows_the_model(shape, classes):
    splits = build_datasets(DatasetConfig(name="fake"), shape, classes, 0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (256, 64, 64)
    labels = set()
    for i in range(len(splits.val)):
        x, y = splits.val[i]
        assert x.shape == shape
        labels.add(y)
    assert labels <= set(range(classes)) and len(labels) > 1
    assert splits.num_classes == classes and splits.input_shape == shape


def test_fake_data_size_and_image_size_are_settable():
    config = DatasetConfig(name="fake", size=10, image_size=16)
    splits = build_datasets(config, (3, 32, 32), 10, 0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 2, 2)
    assert splits.train[0][0].shape == (3, 16, 16)
    assert len(build_datasets(DatasetConfig(name="fake", size=1), (1, 8, 8), 2, 0).test) == 1


def test_fake_splits_differ():
    splits = build_datasets(DatasetConfig(name="fake", size=8), (1, 8, 8), 10, 0)
    assert not torch.equal(splits.train[0][0], splits.val[0][0])
    assert not torch.equal(splits.val[0][0], splits.test[0][0])


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("cifar10", "cifar-10-batches-py")])
def test_missing_files_name_the_folder(tmp_path, name, folder):
    config = DatasetConfig(name=name, data_dir=str(tmp_path))
    with pytest.raises(UserError) as error:
        build_datasets(config, (3, 32, 32), 10, 0)
    assert str(tmp_path / folder) in str(error.value)
    assert "--data-dir" in str(error.value) and "download" in str(error.value)


def write_idx(path, array):
    # MNIST's idx format: magic (0, 0, type 0x08 = ubyte, ndim), big-endian sizes, raw bytes
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.numpy().tobytes())


def make_mnist(root, train_size):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, size in (("train", train_size), ("t10k", 3)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", torch.randint(0, 256, (size, 28, 28), dtype=torch.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(size, dtype=torch.uint8) % 10)


def test_mnist_from_files_splits_off_validation_and_adapts_to_the_model(tmp_path):
    make_mnist(tmp_path, train_size=5003)
    config = DatasetConfig(name="mnist", data_dir=str(tmp_path))
    splits = build_datasets(config, (1, 28, 28), 10, 0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3, 5000, 3)
    assert splits.train[0][0].shape == (1, 28, 28)
    again = build_datasets(config, (1, 28, 28), 10, 7)
    assert splits.train.indices == again.train.indices
    colour = build_datasets(config, (3, 32, 32), 10, 0)
    assert colour.val[0][0].shape == (3, 32, 32) and colour.test[2][1] == 2


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imagenet"])
def test_file_datasets_need_a_data_dir(name):
    with pytest.raises(UserError, match="--data-dir"):
        build_datasets(DatasetConfig(name=name), (3, 32, 32), 10, 0)


def make_image_folder(root):
    for split in ("train", "val"):
        for index, label in enumerate(("cat", "dog")):
            folder = root / split / label
            folder.mkdir(parents=True)
            for image in range(2):
                colour = (60 * index + 20 * image, 100, 200)
                Image.new("RGB", (40, 30), colour).save(folder / f"{image}.png")


def test_imagenet_folder(tmp_path):
    make_image_folder(tmp_path)
    splits = build_datasets(DatasetConfig(name="imagenet", data_dir=str(tmp_path)), (3, 24, 24), 1000, 0)
    assert splits.num_classes == 2
    assert len(splits.train) == 4 and len(splits.val) == 4 and len(splits.test) == 4
    for dataset in (splits.train, splits.val):
        x, y = dataset[3]
        assert x.shape == (3, 24, 24) and y == 1


def test_imagenet_missing_or_empty_folders(tmp_path):
    config = DatasetConfig(name="imagenet", data_dir=str(tmp_path))
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "train"))):
        build_datasets(config, (3, 224, 224), 1000, 0)
    (tmp_path / "train" / "cat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "cat" / "0.png")
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "val"))):
        build_datasets(config, (3, 224, 224), 1000, 0)


def first_labels(seed):
    loaders = build_loaders(digits(), batch_size=32, workers=0, seed=seed)
    return next(iter(loaders.train))[1]


def test_loader_order_follows_the_seed():
    assert torch.equal(first_labels(1), first_labels(1))
    assert not torch.equal(first_labels(1), first_labels(2))


def test_an_epoch_order_depends_on_seed_and_epoch_only():
    loaders = build_loaders(digits(), batch_size=64, workers=0, seed=5)
    order = lambda: torch.cat([y for _, y in loaders.train])  # noqa: E731
    loaders.begin_epoch(3)
    epoch3 = order()
    assert torch.equal(order(), epoch3)
    loaders.begin_epoch(4)
    assert not torch.equal(order(), epoch3)
    loaders.begin_epoch(3)
    assert torch.equal(order(), epoch3)


def test_an_epoch_can_start_after_some_batches():
    loaders = build_loaders(digits(), batch_size=64, workers=0, seed=5)
    loaders.begin_epoch(2)
    whole = [y for _, y in loaders.train]
    loaders.begin_epoch(2, skip_batches=3)
    rest = [y for _, y in loaders.train]
    assert len(loaders.train) == len(whole) - 3
    assert all(torch.equal(a, b) for a, b in zip(whole[3:], rest, strict=True))


def test_epoch_order_depends_on_the_seed_only_not_on_workers():
    splits = digits()
    orders = []
    for workers in (0, 1):
        loaders = build_loaders(splits, batch_size=256, workers=workers, seed=5)
        epochs = []
        for epoch in range(2):
            loaders.begin_epoch(epoch)
            epochs.append(torch.cat([y for _, y in loaders.train]))
        orders.append(epochs)
    assert all(torch.equal(a, b) for a, b in zip(*orders))
    assert not torch.equal(orders[0][0], orders[0][1])


def test_processes_share_an_epoch_without_overlap_and_with_equal_steps():
    splits = digits()
    shares = []
    for rank in range(3):
        loaders = build_loaders(splits, batch_size=50, workers=0, seed=1, rank=rank, world_size=3)
        loaders.begin_epoch(0)
        shares.append(list(loaders.train.sampler))
    assert len({len(share) for share in shares}) == 1
    union = set().union(*shares)
    assert union == set(range(len(splits.train)))
    assert sum(len(share) for share in shares) - len(splits.train) < 3  # padding only


def test_validation_is_split_between_processes_and_test_is_whole():
    splits = digits()
    vals = [build_loaders(splits, 64, 0, 0, rank=rank, world_size=2) for rank in range(2)]
    sizes = [len(loaders.val.dataset) for loaders in vals]
    assert sum(sizes) == len(splits.val)
    assert all(len(loaders.test.dataset) == len(splits.test) for loaders in vals)


def test_eval_loaders_keep_order_and_batch_size():
    splits = digits()
    loaders = build_loaders(splits, batch_size=100, workers=0, seed=0)
    labels = torch.cat([y for _, y in loaders.test])
    assert torch.equal(labels, splits.test.tensors[1])
    assert [len(y) for _, y in loaders.val][-1] == 60


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError):
        DatasetConfig(name="digits", batchsize=32)
    with pytest.raises(ValidationError):
        DatasetConfig(batch_size=0)
    with pytest.raises(ValidationError):
        DatasetConfig(workers=-1)
    schema = DatasetConfig.model_json_schema()
    assert all(field.get("description") for field in schema["properties"].values())


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(UserError, match="did you mean 'mnist'"):
        build_datasets(DatasetConfig(name="mnits"), (1, 28, 28), 10, 0)


@pytest.mark.parametrize("name", ["digits", "mnist", "cifar10"])
def test_a_model_with_fewer_classes_than_a_fixed_dataset_is_refused(name, tmp_path):
    with pytest.raises(UserError, match=f"dataset '{name}' has 10 classes but the model predicts 7"):
        build_datasets(DatasetConfig(name=name, data_dir=str(tmp_path)), (1, 8, 8), 7, 0)


def test_only_data_that_is_not_there_is_data_not_found(tmp_path):
    """What validate stands in for (DataNotFound) and what it reports (any other UserError)."""
    for name in ("mnist", "cifar10", "imagenet"):
        with pytest.raises(DataNotFound):
            build_datasets(DatasetConfig(name=name), (3, 32, 32), 10, 0)
        with pytest.raises(DataNotFound):
            build_datasets(DatasetConfig(name=name, data_dir=str(tmp_path / "elsewhere")), (3, 32, 32), 10, 0)
    (tmp_path / "MNIST").mkdir()  # there, but not the dataset
    with pytest.raises(UserError, match="not found in") as error:
        build_datasets(DatasetConfig(name="mnist", data_dir=str(tmp_path)), (1, 28, 28), 10, 0)
    assert not isinstance(error.value, DataNotFound)
    with pytest.raises(UserError, match="folder .*train not found") as error:  # --data-dir there, no train/
        build_datasets(DatasetConfig(name="imagenet", data_dir=str(tmp_path)), (3, 32, 32), 10, 0)
    assert not isinstance(error.value, DataNotFound)
