"""The evaluation classifier: a small Fashion-MNIST CNN and its features.

Inception-v3 features (FID) fit 28 × 28 greyscale images poorly and cannot
be downloaded offline. As TF-GAN's ``frechet_classifier_distance`` does, we
measure sample quality in the feature space of a classifier trained on the
data itself: the 128 activations before its last layer. The project trains
it deterministically with :func:`train_classifier` (``python -m
ddpm_lib.train_classifier``) and ships its weights in float16 (under 1 MB) as
package data, so the book, the tests and a Colab session load the same
network.
"""

from __future__ import annotations

import hashlib
import time
from importlib.resources import files
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from ddpm_lib.io.data import DeviceDataset, load_images
from ddpm_lib.io.images import pixels_to_model

__all__ = [
    "FashionClassifier",
    "accuracy",
    "load_classifier",
    "train_classifier",
    "weights_path",
]

WEIGHTS = "fashion_classifier.pt"


class FashionClassifier(nn.Module):
    """Two conv stages and a 128-unit feature layer; input (B, 1, 28, 28).

    Images are in the model range [-1, 1]. :meth:`features` gives the
    (B, 128) embedding used by the Fréchet and kernel distances;
    ``forward`` gives (B, 10) class logits.
    """

    num_features = 128

    def __init__(self) -> None:
        super().__init__()

        def stage(c_in, c_out):
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]

        self.body = nn.Sequential(
            *stage(1, 32),  # (B, 32, 14, 14)
            *stage(32, 64),  # (B, 64, 7, 7)
            nn.Flatten(),  # (B, 3136)
            nn.Linear(64 * 7 * 7, self.num_features),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Dropout(0.3), nn.Linear(self.num_features, 10)
        )

    def features(self, x: Tensor) -> Tensor:
        """The (B, 128) feature vectors of images (B, 1, 28, 28)."""
        if x.shape[1:] != (1, 28, 28):
            raise ValueError(
                f"the classifier takes (B, 1, 28, 28) images; got "
                f"{tuple(x.shape)}"
            )
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def weights_path() -> Path:
    """Where the shipped weights live (package data of ddpm_lib)."""
    return Path(str(files("ddpm_lib") / "weights" / WEIGHTS))


def load_classifier(
    path: str | Path | None = None, *, device: str | torch.device = "cpu"
) -> FashionClassifier:
    """The trained classifier in eval mode (float32 on ``device``)."""
    path = Path(path) if path is not None else weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"no classifier weights at {path}; train them with "
            "`python -m ddpm_lib.train_classifier`"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = FashionClassifier()
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as error:  # any damage, one error
        raise ValueError(
            f"{path} does not hold the classifier's weights "
            f"({type(error).__name__}: {str(error)[:200]}); train them "
            "again with `python -m ddpm_lib.train_classifier`"
        ) from error
    return model.to(device).eval()


@torch.no_grad()
def accuracy(
    model: nn.Module, x: Tensor, labels: Tensor, *, batch_size: int = 1000
) -> float:
    """Share of images (B, 1, 28, 28) in [-1, 1] classified correctly."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        correct += (
            logits.argmax(1) == labels[start : start + batch_size]
        ).sum()
    return correct.item() / len(x)


def train_classifier(
    *,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log=print,
) -> tuple[FashionClassifier, float]:
    """Train the classifier on Fashion-MNIST; returns it and test accuracy.

    Deterministic: fixed seeds, deterministic kernels, batches from
    :meth:`DeviceDataset.batch_at`, and a learning rate that decays to 0
    along a cosine.
    """
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    train = load_images("fashion_mnist", split="train")
    test = load_images("fashion_mnist", split="test")
    data = DeviceDataset.from_images(train, device)
    model = FashionClassifier().to(device)
    steps = epochs * (len(data) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        x, y = data.batch_at(step, batch_size, seed=seed)
        # Random shifts by up to 2 pixels: a little augmentation.
        shift = torch.randint(-2, 3, (2,)).tolist()
        x = torch.roll(x, shifts=shift, dims=(2, 3))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % (steps // epochs) == 0:
            log(
                f"epoch {(step + 1) * epochs // steps}/{epochs}: loss "
                f"{loss.item():.3f} ({time.perf_counter() - start:.0f} s)"
            )
    x_test = pixels_to_model(test.pixels).to(device)
    acc = accuracy(model, x_test, test.labels.to(device))
    torch.use_deterministic_algorithms(False)
    return model.eval(), acc


def save_weights(model: FashionClassifier, path: Path) -> str:
    """Save float16 weights; returns their SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v
             for k, v in model.state_dict().items()}  # fmt: skip
    # Saved by path, as the shipped file was: torch names the archive
    # after the file, so the same weights give the same bytes and hash.
    torch.save(state, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()
