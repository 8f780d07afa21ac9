"""Data: local look-up before download, the three formats, device batches."""

import gzip
import os
import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

import ddpm_lib as dl
from ddpm_lib.io import data


def write_idx(path, array, *, compress):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_like(folder, n, *, compress, prefix="t10k"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28))
    labels = np.arange(n) % 10
    gz = ".gz" if compress else ""
    write_idx(
        folder / f"{prefix}-images-idx3-ubyte{gz}", images, compress=compress
    )
    write_idx(
        folder / f"{prefix}-labels-idx1-ubyte{gz}", labels, compress=compress
    )
    return images, labels


@pytest.fixture
def no_local_data(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")


def test_pixels_round_trip_and_range():
    pixels = torch.arange(256, dtype=torch.uint8)
    x = dl.pixels_to_model(pixels)
    assert x.dtype == torch.float32 and x[0] == -1 and x[-1] == 1
    assert dl.model_to_pixels(x).equal(pixels)
    assert dl.model_to_pixels(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]
    with pytest.raises(ValueError, match="uint8"):
        dl.pixels_to_model(x)


def test_the_env_folder_comes_before_anything_else(monkeypatch, tmp_path):
    images, labels = write_mnist_like(tmp_path, 12, compress=True)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    got = dl.load_images("fashion_mnist", split="test", download=False)
    assert (
        got.pixels.shape == (12, 1, 28, 28) and got.pixels.dtype == torch.uint8
    )
    assert got.pixels[:, 0].numpy().tolist() == images.tolist()
    assert got.labels.tolist() == labels.tolist()
    assert got.classes[9] == "Ankle boot"


def test_the_env_folder_may_use_torchvisions_layout(monkeypatch, tmp_path):
    write_mnist_like(
        tmp_path / "MNIST" / "raw", 7, compress=False, prefix="train"
    )
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert len(dl.load_images("mnist", download=False).labels) == 7


def test_debian_package_folder_is_used(monkeypatch, tmp_path, no_local_data):
    write_mnist_like(tmp_path / "deb", 5, compress=True)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "deb")
    assert len(dl.load_images("fashion_mnist", split="test").pixels) == 5


def test_torchvisions_own_path_is_kept(tmp_path, no_local_data):
    # Files already where torchvision downloads them: it finds them there
    # (it wants both splits before it skips its download).
    write_mnist_like(tmp_path / "MNIST" / "raw", 9, compress=False)
    write_mnist_like(
        tmp_path / "MNIST" / "raw", 4, compress=False, prefix="train"
    )
    got = dl.load_images("mnist", split="test", root=tmp_path)
    assert got.pixels.shape == (9, 1, 28, 28)
    assert got.labels.dtype == torch.long


def test_cifar10_pickles(monkeypatch, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            b"labels": [0, 1, 2, 9],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    train = dl.load_images("cifar10", download=False)
    assert train.pixels.shape == (20, 3, 32, 32)
    # Channels first: the first 1024 bytes of a row are the red plane.
    with open(folder / "data_batch_1", "rb") as f:
        first = pickle.load(f)[b"data"][0]
    assert train.pixels[0, 0].flatten().tolist() == first[:1024].tolist()
    assert dl.load_images(
        "cifar10", split="test", download=False
    ).labels.tolist() == [0, 1, 2, 9]


def test_missing_data_names_every_way_to_get_it(tmp_path, no_local_data):
    with pytest.raises(dl.DataNotFoundError) as info:
        dl.load_images("fashion_mnist", root=tmp_path, download=False)
    message = str(info.value)
    assert data.DATA_DIR_ENV in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_a_failed_download_names_every_way_to_get_it(
    monkeypatch, tmp_path, no_local_data
):
    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    with pytest.raises(dl.DataNotFoundError) as info:
        dl.load_images("fashion_mnist", root=tmp_path)
    message = str(info.value)
    assert "no network" in message and "apt-get install" in message
    assert data.DATA_DIR_ENV in message and "download" in message


def test_bad_arguments_and_damaged_files(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        dl.load_images("imagenet")
    with pytest.raises(ValueError, match="split"):
        dl.load_images("mnist", split="valid")
    write_mnist_like(tmp_path, 3, compress=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="truncated"):
        dl.load_images("mnist", split="test", download=False)


def test_real_fashion_mnist(fashion_mnist_test):
    got = fashion_mnist_test
    assert got.pixels.shape == (10_000, 1, 28, 28)
    assert torch.bincount(got.labels).tolist() == [1000] * 10
    assert got.pixels.max() == 255 and got.pixels.min() == 0


def test_device_dataset_epochs_are_permutations():
    x = torch.arange(10.0).reshape(10, 1)
    ds = dl.DeviceDataset(x, torch.arange(10))
    batches = ds.batches(3, seed=0)
    epoch = [next(batches) for _ in range(3)]  # 9 of 10, remainder dropped
    seen = torch.cat([b[0] for b in epoch]).flatten()
    assert len(set(seen.tolist())) == 9
    for xb, yb in epoch:
        assert xb.shape == (3, 1) and xb.flatten().long().equal(yb)
    again = ds.batches(3, seed=0)
    assert next(again)[0].equal(epoch[0][0])
    assert dl.DeviceDataset(x).batches(10).__next__()[1] is None


def test_device_dataset_from_images_and_errors():
    images = dl.Images(
        torch.full((6, 1, 2, 2), 255, dtype=torch.uint8),
        torch.arange(6),
        ("a",),
    )
    ds = dl.DeviceDataset.from_images(images, "cpu", limit=4)
    assert len(ds) == 4 and ds.x.max() == 1 and ds.device.type == "cpu"
    with pytest.raises(ValueError, match="batch_size"):
        next(ds.batches(5))
    with pytest.raises(ValueError, match="labels"):
        dl.DeviceDataset(torch.zeros(3, 2), torch.zeros(4))


def write_cifar(folder, *, protocol=4, rename=None):
    """Six CIFAR-10 batch files of 4 images each, pickled as given."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": b"a batch",
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            b"labels": [0, 1, 2, 9],
            b"filenames": [b"a.png"] * 4,
        }
        raw = pickle.dumps(batch, protocol=protocol)
        if rename:  # the module names of older numpy, as in the real files
            raw = raw.replace(*rename)
        (folder / name).write_bytes(raw)


def test_cifar10_batches_as_distributed_still_load(monkeypatch, tmp_path):
    # Protocol 2 with numpy.core (the files' own form) and _codecs.encode.
    old, new = b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    write_cifar(tmp_path, protocol=2, rename=(old, new))
    raw = (tmp_path / "test_batch").read_bytes()
    assert new in raw and b"c_codecs\nencode" in raw
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    got = dl.load_images("cifar10", split="test", download=False)
    assert got.pixels.shape == (4, 3, 32, 32)
    assert got.labels.tolist() == [0, 1, 2, 9]


class RunsCode:
    """What a crafted batch file holds: a call made while unpickling."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_crafted_cifar10_batch_cannot_run_code(
    monkeypatch, tmp_path, protocol
):
    write_cifar(tmp_path)
    marker = tmp_path / "code-ran"
    crafted = {b"data": RunsCode(marker), b"labels": [0]}
    (tmp_path / "data_batch_1").write_bytes(
        pickle.dumps(crafted, protocol=protocol)
    )
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(data.DataFileError, match="data_batch_1") as info:
        dl.load_images("cifar10", download=False)
    assert "system" in str(info.value)
    assert not marker.exists()


def test_a_cifar10_batch_of_the_wrong_shape_is_refused(monkeypatch, tmp_path):
    write_cifar(tmp_path)
    batch = {b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(data.DataFileError, match="3072"):
        dl.load_images("cifar10", split="test", download=False)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # truncated gzip stream
        lambda raw: b"plain bytes, not gzip",  # not gzip at all
        lambda raw: raw[:10] + bytes(len(raw) - 10),  # zeroed
    ],
    ids=["truncated", "not-gzip", "zeroed"],
)
def test_damaged_gz_files_name_the_file(monkeypatch, tmp_path, damage):
    write_mnist_like(tmp_path, 5, compress=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(data.DataFileError, match=str(path)):
        dl.load_images("fashion_mnist", split="test", download=False)


def test_a_data_dir_that_does_not_exist_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "typo"))
    with pytest.raises(dl.DataNotFoundError, match=data.DATA_DIR_ENV):
        dl.load_images("fashion_mnist", split="test", download=False)


def test_half_a_dataset_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    write_mnist_like(tmp_path, 5, compress=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(data.DataFileError, match="labels-idx1-ubyte"):
        dl.load_images("fashion_mnist", split="test", download=False)


def test_labels_that_do_not_fit_the_images_are_refused(monkeypatch, tmp_path):
    write_mnist_like(tmp_path, 5, compress=False)
    write_idx(
        tmp_path / "t10k-labels-idx1-ubyte",
        np.array([0, 1, 2, 3, 10]),
        compress=False,
    )
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(data.DataFileError, match="outside 0..9"):
        dl.load_images("fashion_mnist", split="test", download=False)
    write_idx(
        tmp_path / "t10k-labels-idx1-ubyte", np.arange(4), compress=False
    )
    with pytest.raises(data.DataFileError, match="5 images"):
        dl.load_images("fashion_mnist", split="test", download=False)
