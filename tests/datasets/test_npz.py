"""The `npz` dataset: a user's arrays in a .npz file or a torch.save'd .pt dict of tensors."""
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

from compressor.compression.core.errors import DataNotFound, UserError
from compressor.datasets import DatasetConfig, build_datasets


def arrays(train=20, test=6, shape=(8, 8, 3), classes=3, dtype=np.uint8, val=None):
    """Image i has every pixel equal to i (so images can be recognised); labels cycle through the classes."""
    def images(count, start):
        return (np.arange(start, start + count).reshape(-1, 1, 1, 1) * np.ones((1, *shape))).astype(dtype)

    data = {"x_train": images(train, 0), "y_train": np.arange(train) % classes,
            "x_test": images(test, 100), "y_test": np.arange(test) % classes}
    if val:
        data.update(x_val=images(val, 200), y_val=np.arange(val) % classes)
    return data


def save(tmp_path, data, name="data.npz"):
    path = tmp_path / name
    if name.endswith(".npz"):
        np.savez(path, **data)
    else:
        torch.save({key: torch.as_tensor(value) for key, value in data.items()}, path)
    return path


def build(path, shape=(3, 8, 8), num_classes=10, seed=0, **options):
    return build_datasets(DatasetConfig(name="npz", path=str(path), **options), shape, num_classes, seed)


def first_pixels(dataset):
    return sorted(round(float(dataset[i][0][0, 0, 0]) * 255) for i in range(len(dataset)))


def test_nhwc_uint8_arrays_are_scaled_and_val_is_split_off_train(tmp_path):
    splits = build(save(tmp_path, arrays()))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 2, 6)
    assert splits.num_classes == 3 and splits.input_shape == (3, 8, 8)
    x, y = splits.test[1]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and int(y) == 1
    assert torch.allclose(x, torch.full((3, 8, 8), 101 / 255))
    train, val = first_pixels(splits.train), first_pixels(splits.val)
    assert sorted(train + val) == list(range(20)) and not set(train) & set(val)
    again = build(save(tmp_path, arrays()), seed=7)  # the training seed plays no part
    assert first_pixels(again.val) == val
    assert first_pixels(build(save(tmp_path, arrays()), split_seed=3).val) != val


def test_given_val_arrays_are_used_and_nchw_float_is_kept(tmp_path):
    data = arrays(shape=(1, 8, 8), dtype=np.float32, val=4)
    splits = build(save(tmp_path, data), shape=(1, 8, 8))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 4, 6)
    assert splits.val[2][0].shape == (1, 8, 8) and float(splits.val[2][0][0, 0, 0]) == 202.0


def test_pt_files_and_channel_size_and_normalisation(tmp_path):
    path = save(tmp_path, arrays(shape=(10, 10)), name="data.pt")  # N x H x W: one channel, 10x10
    splits = build(path, mean=[0.5], std=[0.25])
    x = splits.test[0][0]
    assert x.shape == (3, 8, 8)  # grey repeated over the model's 3 channels, resized to 8x8
    assert torch.allclose(x, torch.full((3, 8, 8), (100 / 255 - 0.5) / 0.25), atol=1e-5)
    erasing = build(path, augment=[{"RandomErasing": {"p": 1.0, "value": 0}}])  # train images only
    assert all((erasing.train[i][0] == 0).any() for i in range(len(erasing.train)))
    assert not any((erasing.test[i][0] == 0).any() for i in range(len(erasing.test)))
    assert erasing.train[0][0].shape == (3, 8, 8)


def test_pt_files_holding_other_objects_are_not_unpickled(tmp_path):
    path = tmp_path / "objects.pt"
    torch.save({"x_train": OrderedDict(a=1), "helper": re.compile("x")}, path)
    with pytest.raises(UserError, match="holds more than tensors, which are not loaded"):
        build(path)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(UserError, match="holds a list; expected a dict"):
        build(tmp_path / "list.pt")


def test_object_arrays_are_refused(tmp_path):
    data = arrays()
    data["x_test"] = np.array([object()] * 6)
    with pytest.raises(UserError, match="allow_pickle"):
        build(save(tmp_path, data))


def test_bad_paths(tmp_path):
    with pytest.raises(UserError, match="needs a .npz or .pt file: set dataset.path"):
        build_datasets(DatasetConfig(name="npz"), (3, 8, 8), 10, 0)
    with pytest.raises(UserError, match="does not exist"):
        build(tmp_path / "none.npz")
    with pytest.raises(UserError, match="is a folder"):
        build(tmp_path)
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(UserError, match=r"should be a .npz file"):
        build(tmp_path / "data.csv")
    (tmp_path / "broken.npz").write_text("not a zip")
    with pytest.raises(UserError, match="cannot read"):
        build(tmp_path / "broken.npz")


def test_only_a_file_that_is_not_there_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFound):
        build_datasets(DatasetConfig(name="npz"), (3, 8, 8), 10, 0)
    with pytest.raises(DataNotFound):
        build(tmp_path / "none.npz")
    data = arrays()
    del data["x_train"]
    for path in (tmp_path, save(tmp_path, data), save(tmp_path, arrays(classes=12), name="many.npz")):
        with pytest.raises(UserError) as error:
            build(path)
        assert not isinstance(error.value, DataNotFound), error.value


def test_missing_arrays_are_listed(tmp_path):
    data = arrays()
    del data["x_test"], data["y_test"]
    with pytest.raises(UserError, match="lacks x_test, y_test"):
        build(save(tmp_path, data))
    data = arrays()
    data["x_val"] = data["x_train"]
    with pytest.raises(UserError, match="has x_val but no y_val"):
        build(save(tmp_path, data))


def test_lengths_and_labels(tmp_path):
    data = arrays()
    data["y_train"] = data["y_train"][:-1]
    with pytest.raises(UserError, match="x_train has 20 images but y_train has 19 labels"):
        build(save(tmp_path, data))
    data = arrays(classes=12)
    with pytest.raises(UserError, match=r"y_train has label 11, so .* has 12 classes but the model predicts 10 "
                                        r"\(labels must be 0..9; set model.num_classes: 12\)"):
        build(save(tmp_path, data))
    data = arrays()
    data["y_test"][0] = -1
    with pytest.raises(UserError, match="y_test has label -1; labels must be 0..9"):
        build(save(tmp_path, data))
    data = arrays()
    data["y_train"] = data["y_train"].astype(np.float32)
    with pytest.raises(UserError, match="y_train holds float32; labels must be integer"):
        build(save(tmp_path, data))
    data = arrays(classes=1)
    with pytest.raises(UserError, match="has 1 class; at least 2 are needed"):
        build(save(tmp_path, data))


def test_image_arrays_must_fit_the_model(tmp_path):
    data = arrays()
    data["x_train"] = data["x_train"].astype(np.int32)
    with pytest.raises(UserError, match="x_train holds int32; images must be uint8"):
        build(save(tmp_path, data))
    with pytest.raises(UserError, match="the images have 3 channels but the model takes 2"):
        build(save(tmp_path, arrays()), shape=(2, 8, 8))
    data = arrays()
    data["x_test"] = data["x_test"][:, :4]
    with pytest.raises(UserError, match="the splits' images differ in shape"):
        build(save(tmp_path, data))
