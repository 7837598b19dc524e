"""Animal-MNIST, read offline from the animal-mnist package's own files: what it holds, and no pickle runs code."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from layerscope.errors import InputError
from layerscope.zoo import animals


class _Runs:
    def __reduce__(self):
        return (os.getcwd, ())


def test_a_pickle_that_calls_anything_but_numpy_is_refused(tmp_path):
    path = tmp_path / "evil.gz"
    with gzip.open(path, "wb") as stream:
        pickle.dump(_Runs(), stream)
    with pytest.raises(InputError, match="is not a numpy array part"):
        animals._read(path)
    with gzip.open(path, "wb") as stream:
        pickle.dump(np.arange(3, dtype=np.int64), stream)
    assert animals._read(path).tolist() == [0, 1, 2]


def test_the_package_holds_ten_thousand_silhouettes_in_ten_classes():
    pytest.importorskip("animal_mnist", reason="pip install --no-deps animal-mnist==0.4")
    images, labels = animals.load_animals()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10 and len(animals.CLASSES) == 10
    assert images.min() == 0 and images.max() == 255 and 0 < images.mean() < 128  # white shapes on black
