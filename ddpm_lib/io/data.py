"""Datasets: Fashion-MNIST (the book's dataset), MNIST and CIFAR-10.

Pixels are stored as uint8 and scaled to the model's range [-1, 1] with
:func:`ddpm_lib.io.images.pixels_to_model`, as in Ho et al. (2020) §3.3.

Where the files come from, in order:

1. the folder named by the environment variable ``DDPM_DATA_DIR``
   (the original files, flat or in torchvision's layout);
2. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` — the
   Debian/Ubuntu package ``dataset-fashion-mnist``;
3. torchvision's own download, into ``root`` (default
   ``~/.cache/ddpm_lib/data``).
"""

from __future__ import annotations

import codecs
import gzip
import os
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ddpm_lib.io.images import pixels_to_model

__all__ = [
    "DATA_DIR_ENV",
    "DataFileError",
    "DataNotFoundError",
    "DeviceDataset",
    "Images",
    "image_shape",
    "load_images",
]

DATA_DIR_ENV = "DDPM_DATA_DIR"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_ROOT = Path("~/.cache/ddpm_lib/data")


class DataNotFoundError(FileNotFoundError):
    """No local copy of a dataset was found and it could not be downloaded."""


class Images(NamedTuple):
    """A labelled image dataset held in memory.

    Attributes:
        pixels: uint8 images, shape (N, C, H, W).
        labels: int64 class indices, shape (N,).
        classes: Class names, indexed by label.
    """

    pixels: Tensor
    labels: Tensor
    classes: tuple[str, ...]


@dataclass(frozen=True)
class _Spec:
    torchvision_name: str  # class in torchvision.datasets
    folder: str  # torchvision's sub-folder of its root
    classes: tuple[str, ...]
    idx: bool  # MNIST-style IDX files, else CIFAR-10 python pickles


_SPECS = {
    "fashion_mnist": _Spec(
        "FashionMNIST",
        "FashionMNIST/raw",
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        idx=True,
    ),
    "mnist": _Spec(
        "MNIST", "MNIST/raw", tuple(str(d) for d in range(10)), idx=True
    ),
    "cifar10": _Spec(
        "CIFAR10",
        "cifar-10-batches-py",
        (
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        idx=False,
    ),
}


class DataFileError(ValueError):
    """A dataset file that is damaged or not in its dataset's format."""


def _read_bytes(path: Path) -> bytes:
    """The contents of ``path``, gunzipped if its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, OSError, zlib.error) as error:  # BadGzipFile too
        raise DataFileError(
            f"{path} cannot be read ({type(error).__name__}: {error}); it "
            "is truncated or not the original file. Replace it with the "
            "original (or delete it so the data is downloaded)"
        ) from error


def image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of a dataset's images, known without loading it."""
    if name not in _SPECS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {sorted(_SPECS)}"
        )
    return (1, 28, 28) if _SPECS[name].idx else (3, 32, 32)


def class_names(name: str) -> tuple[str, ...]:
    """A dataset's class names, indexed by label, known without loading it."""
    image_shape(name)  # the same error for an unknown name
    return _SPECS[name].classes


def _read_idx(path: Path) -> Tensor:
    """Read an IDX file (the MNIST format), gzipped or not."""
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DataFileError(
            f"{path} is not an IDX file of unsigned bytes; replace it with "
            "the original file"
        )
    ndim = data[3]
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise DataFileError(
            f"{path} is truncated: expected shape {shape}; replace it with "
            "the original file"
        )
    return torch.from_numpy(array.reshape(shape).copy())


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_local(spec: _Spec, folder: Path, train: bool) -> Images | None:
    """The dataset from ``folder`` (flat or torchvision layout), if there.

    Raises:
        DataFileError: if only some of the split's files are there, or
            one of them is damaged.
    """
    for sub in (folder, folder / spec.folder):
        if spec.idx:
            prefix = "train" if train else "t10k"
            stems = [
                f"{prefix}-images-idx3-ubyte",
                f"{prefix}-labels-idx1-ubyte",
            ]
            found = [_find(sub, stem) for stem in stems]
        else:
            stems = (
                [f"data_batch_{i}" for i in range(1, 6)]
                if train
                else ["test_batch"]
            )
            found = [sub / n if (sub / n).is_file() else None for n in stems]
        if not any(found):
            continue
        if not all(found):
            missing = [s for s, f in zip(stems, found, strict=True) if not f]
            raise DataFileError(
                f"{sub} holds part of {spec.torchvision_name} only: "
                f"{', '.join(missing)} is missing. Add the missing files "
                "or remove the others"
            )
        if spec.idx:
            pixels = _read_idx(found[0])  # (N, 28, 28)
            labels = _read_idx(found[1]).long()  # (N,)
            if pixels.ndim != 3:
                raise DataFileError(
                    f"{found[0]} does not hold images (N, H, W)"
                )
            images = Images(pixels.unsqueeze(1), labels, spec.classes)
        else:
            images = _read_cifar(sub, stems, spec.classes)
        _check_labels(images, sub)
        return images
    return None


def _check_labels(images: Images, folder: Path) -> None:
    n, labels = len(images.pixels), images.labels
    if labels.shape != (n,):
        raise DataFileError(
            f"the files in {folder} hold {n} images but labels of shape "
            f"{tuple(labels.shape)}; replace them with the original files"
        )
    if n and not 0 <= int(labels.min()) <= int(labels.max()) < len(
        images.classes
    ):
        raise DataFileError(
            f"the labels in {folder} lie outside 0..{len(images.classes) - 1}"
            "; replace them with the original files"
        )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and plain values, nothing else.

    ``pickle.load`` runs whatever a file names, so a crafted batch file
    could run code; a CIFAR-10 batch needs only these globals.
    """

    # numpy's array constructor (``numpy._core`` since numpy 2, ``numpy.core``
    # in the files as distributed) and _codecs.encode, which Python 3
    # writes for bytes under protocol 2.
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
        ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module: str, name: str):
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: a dataset file holds "
                "arrays and lists only"
            )
        if found == "reconstruct":
            return np.ndarray((0,)).__reduce__()[0]  # numpy's _reconstruct
        return found


def _read_cifar(folder: Path, names: list[str], classes) -> Images:
    """CIFAR-10 batches ("python version"), read without running code."""
    pixels, labels = [], []
    for name in names:
        path = folder / name
        try:
            with open(path, "rb") as f:
                batch = _ArrayUnpickler(f, encoding="bytes").load()
            data = np.asarray(batch[b"data"])
            batch_labels = [int(v) for v in batch[b"labels"]]
        except pickle.UnpicklingError as error:
            raise DataFileError(
                f"{path} is not a CIFAR-10 batch and was not loaded: "
                f"{error}. Replace it with the original file"
            ) from error
        except Exception as error:  # damaged: any failure, one error
            raise DataFileError(
                f"{path} cannot be read as a CIFAR-10 batch "
                f"({type(error).__name__}: {error}); replace it with the "
                "original file"
            ) from error
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataFileError(
                f"{path}: expected uint8 rows of 3072 pixels; got "
                f"{data.dtype} {data.shape}. Replace it with the original"
            )
        pixels.append(data)
        labels.extend(batch_labels)
    array = np.concatenate(pixels).reshape(-1, 3, 32, 32)  # (N, C, H, W)
    return Images(
        torch.from_numpy(array),
        torch.tensor(labels, dtype=torch.long),
        classes,
    )


def _download(spec: _Spec, root: Path, train: bool) -> Images:
    """torchvision's dataset class, with its download, under ``root``."""
    import torchvision

    cls = getattr(torchvision.datasets, spec.torchvision_name)
    dataset = cls(root=str(root), train=train, download=True)
    pixels = torch.as_tensor(np.asarray(dataset.data))
    if pixels.ndim == 3:  # (N, H, W) greyscale
        pixels = pixels.unsqueeze(1)
    else:  # CIFAR-10: (N, H, W, C)
        pixels = pixels.permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(dataset.targets, dtype=torch.long)
    return Images(pixels, labels, spec.classes)


def _how_to_get(name: str, root: Path) -> str:
    ways = [
        f"put the original files in a folder and set {DATA_DIR_ENV} to it",
        f"connect to the internet so torchvision can download it into {root}",
    ]
    if name == "fashion_mnist":
        ways.insert(
            1,
            "on Debian/Ubuntu install the package: "
            "sudo apt-get install dataset-fashion-mnist",
        )
    return "; or ".join(ways)


def load_images(
    name: str = "fashion_mnist",
    *,
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
) -> Images:
    """Load a whole dataset split into memory as uint8 pixels and labels.

    Args:
        name: ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"``.
        split: ``"train"`` or ``"test"``.
        root: Where torchvision keeps its downloads (default
            ``~/.cache/ddpm_lib/data``).
        download: Let torchvision download the data when no local copy
            is found.

    Raises:
        DataNotFoundError: when there is no local copy and no download,
            or ``DDPM_DATA_DIR`` names no folder; its message names the
            ways to get the data.
        DataFileError: when a local file is damaged, incomplete or not in
            the dataset's format (read without running code).
    """
    if name not in _SPECS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {sorted(_SPECS)}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    spec, train = _SPECS[name], split == "train"
    folders = []
    if os.environ.get(DATA_DIR_ENV):
        folder = Path(os.environ[DATA_DIR_ENV]).expanduser()
        if not folder.is_dir():
            raise DataNotFoundError(
                f"{DATA_DIR_ENV} is set to {folder}, which is not a folder; "
                "point it at the folder that holds the dataset files, or "
                "unset it"
            )
        folders.append(folder)
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION_MNIST)
    for folder in folders:
        found = _read_local(spec, folder, train)
        if found is not None:
            return found
    root = Path(root if root is not None else DEFAULT_ROOT).expanduser()
    if not download:
        raise DataNotFoundError(
            f"{name} ({split}) not found locally. To get it: "
            + _how_to_get(name, root)
        )
    try:
        return _download(spec, root, train)
    except Exception as error:  # no network, a firewall, a bad mirror...
        raise DataNotFoundError(
            f"{name} ({split}) was not found locally and the download "
            f"failed ({type(error).__name__}: {error}). To get it: "
            + _how_to_get(name, root)
        ) from error


class DeviceDataset:
    """A dataset held entirely on one device, batched without a DataLoader.

    Shuffled batches are index gathers on the device: no worker processes,
    no host-to-device copies per step.

    Args:
        x: Data, shape (N, *S), already on its device and in model range.
        labels: Optional labels, shape (N,), on the same device.
    """

    def __init__(self, x: Tensor, labels: Tensor | None = None) -> None:
        if labels is not None and labels.shape != x.shape[:1]:
            raise ValueError(
                f"labels must have shape (N,) = ({len(x)},); got "
                f"{tuple(labels.shape)}"
            )
        if labels is not None and labels.device != x.device:
            raise ValueError("x and labels must be on one device")
        self.x = x
        self.labels = labels
        self._epoch: tuple[int, int] | None = None  # cached permutation
        self._order: Tensor | None = None

    @classmethod
    def from_images(
        cls,
        images: Images,
        device: torch.device | str,
        *,
        limit: int | None = None,
    ) -> DeviceDataset:
        """Scale ``images`` to [-1, 1] and move (the first ``limit``) there."""
        pixels, labels = images.pixels[:limit], images.labels[:limit]
        return cls(pixels_to_model(pixels.to(device)), labels.to(device))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def batch_at(
        self, step: int, batch_size: int, *, seed: int = 0
    ) -> tuple[Tensor, Tensor | None]:
        """The batch of training step ``step`` (0-based), a pure function.

        Epoch e = step // (N // batch_size) is a permutation drawn from
        ``seed`` and e; the batch is the slice of that permutation for the
        step. Resuming a run at any step therefore sees exactly the batches
        it would have seen, with no iterator state to save.
        """
        if not 1 <= batch_size <= len(self):
            raise ValueError(
                f"batch_size must be in 1..{len(self)} (the dataset's "
                f"size); got {batch_size}"
            )
        per_epoch = len(self) // batch_size
        epoch, within = divmod(step, per_epoch)
        if self._epoch != (seed, epoch):
            g = torch.Generator(self.device).manual_seed(
                seed * 1_000_003 + epoch
            )
            self._order = torch.randperm(
                len(self), generator=g, device=self.device
            )
            self._epoch = (seed, epoch)
        index = self._order[within * batch_size : (within + 1) * batch_size]
        labels = None if self.labels is None else self.labels[index]
        return self.x[index], labels

    def batches(
        self, batch_size: int, *, seed: int = 0
    ) -> Iterator[tuple[Tensor, Tensor | None]]:
        """Endless shuffled batches ``(x, labels)``: :meth:`batch_at` for
        step 0, 1, 2, …

        Every batch has exactly ``batch_size`` examples (the remainder of an
        epoch is dropped), so compiled code sees one shape.
        """
        step = 0
        while True:
            yield self.batch_at(step, batch_size, seed=seed)
            step += 1
