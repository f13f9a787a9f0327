"""The bundled digits are read from scikit-learn's file without importing scikit-learn."""
import subprocess
import sys

import numpy as np


def test_the_bundled_file_gives_what_load_digits_gives():
    from sklearn.datasets import load_digits

    from compressor.datasets.digits import load_bundled_digits

    images, labels = load_bundled_digits()
    expected = load_digits()
    assert np.array_equal(images, expected.images) and np.array_equal(labels, expected.target)


def test_building_the_digits_splits_does_not_import_scikit_learn():
    code = ("import sys\nfrom compressor.datasets import build_datasets\n"
            "from compressor.datasets.config import BaseDatasetConfig\n"
            "splits = build_datasets(BaseDatasetConfig(name='digits'), (1, 8, 8), 10, 0)\n"
            "print(len(splits.train), len(splits.test), 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1077", "360", "False"]
