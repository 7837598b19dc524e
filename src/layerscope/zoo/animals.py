"""Animal-MNIST: 10,000 animal silhouettes in the MNIST layout, read offline from the ``animal-mnist`` package.

``animal-mnist`` 0.4 (MIT licence, Sina Mohammadi; a 2.6 MB wheel) ships its data inside the package:
``animal_mnist/data/Animal_MNIST/animal_data_version_3.gz`` (uint8 (10000, 28, 28), white silhouettes on
black) and ``animal_label_version_3.gz`` (int64 (10000,)), 1,000 images of each of 10 classes (bear, bird,
cat, cow, dog, elephant, giraffe, horse, sheep, zebra, labels 0-9 in that order). The package's metadata
asks for TensorFlow and pandas, which only its MNIST comparison code uses; the data needs neither, so
install it with ``pip install --no-deps animal-mnist==0.4``. Nothing of the package is imported or run:
its files are found with :func:`importlib.util.find_spec` and its pickles are read by an unpickler
that accepts numpy arrays and nothing else.

>>> images, labels = load_animals()  # doctest: +SKIP
>>> images.shape, images.dtype.name, np.bincount(labels).tolist()  # doctest: +SKIP
((10000, 28, 28), 'uint8', [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000])
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError

__all__ = ["CLASSES", "load_animals", "animals_folder"]

CLASSES: tuple[str, ...] = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
_FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")
_NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
          ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and refuses every other global (a pickle can run code)."""

    def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
        if (module, name) not in _NUMPY:
            raise pickle.UnpicklingError(f"{module}.{name} is not a numpy array part")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def animals_folder() -> Path:
    """Where the installed ``animal-mnist`` keeps its data (MissingDependencyError naming the install line)."""
    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("Animal-MNIST needs the package 'animal-mnist', which is not installed. Install "
                                     "it with: pip install --no-deps animal-mnist==0.4 (its data needs no TensorFlow)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "Animal_MNIST"


def _read(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as stream:
            value = _ArraysOnly(stream).load()
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        raise InputError(f"{path} is not the Animal-MNIST array it should be ({err}); reinstall animal-mnist.") from None
    if not isinstance(value, np.ndarray):
        raise InputError(f"{path} holds a {type(value).__name__}, not an array; reinstall animal-mnist.")
    return value


def load_animals() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (10000, 28, 28), int64 labels (10000,)): positions in :data:`CLASSES`, in the package's order.

    The images are in the MNIST layout the builtin digits model takes: pass them through
    :func:`layerscope.zoo.digits.to_tensor`.
    """
    folder = animals_folder()
    images, labels = (_read(folder / name) for name in _FILES)
    if images.shape != (10000, 28, 28) or images.dtype != np.uint8 or labels.shape != (10000,):
        raise InputError(f"Animal-MNIST in {folder} has images {images.shape} {images.dtype} and labels "
                         f"{labels.shape}; expected (10000, 28, 28) uint8 and (10000,). Reinstall animal-mnist==0.4.")
    return images, labels.astype(np.int64)
