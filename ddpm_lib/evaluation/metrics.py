"""Sample-quality metrics with a stated protocol.

For Fashion-MNIST images: the Fréchet classifier distance (FCD: the
Fréchet distance of Heusel et al. 2017 in the feature space of
:mod:`ddpm_lib.evaluation.classifier`), the kernel distance KID
(Bińkowski et al. 2018) in the same space, the histogram of predicted
classes (mode dropping shows as missing classes) and each sample's
nearest training image (memorisation shows as near-zero distances). Every
number comes with
the sample count it was computed on; FCD is biased for small N, so compare
only numbers of equal N, and read a model's FCD between the *floor*
(training images against test images: what a perfect model scores) and
the *ceiling* (Gaussian noise).

For the 2-D Gaussian mixture, whose density is known, the metrics are
exact: the cross-entropy of samples under the true density and the share
of samples per component.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ddpm_lib.diffusion.toy import GaussianMixture
from ddpm_lib.evaluation.classifier import FashionClassifier, load_classifier

__all__ = [
    "class_agreement",
    "class_histogram",
    "fcd",
    "frechet_distance",
    "kid",
    "nearest_neighbour_distances",
    "toy_report",
]


class _Features(nn.Module):
    """The classifier's features for torchmetrics (images in [0, 1])."""

    num_features = FashionClassifier.num_features

    def __init__(self, classifier: FashionClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x01: Tensor) -> Tensor:
        return self.classifier.features(x01 * 2 - 1)


def _check_images(name: str, x: Tensor) -> None:
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"{name} must be Fashion-MNIST-shaped images (N, 1, 28, 28) in "
            f"[-1, 1]; got {tuple(x.shape)}"
        )
    if len(x) < 2:
        raise ValueError(f"{name} needs at least 2 images; got {len(x)}")


def _feed(metric, images: Tensor, *, real: bool, batch_size: int) -> None:
    for start in range(0, len(images), batch_size):
        part = images[start : start + batch_size].float()
        metric.update((part.clamp(-1, 1) + 1) / 2, real=real)


@torch.no_grad()
def _feature_stats(
    images: Tensor, classifier: FashionClassifier, batch_size: int
) -> tuple[Tensor, Tensor]:
    """Mean and covariance (N − 1 in the denominator) of the features."""
    parts = []
    for start in range(0, len(images), batch_size):
        part = images[start : start + batch_size].float().clamp(-1, 1)
        parts.append(classifier.features(part))
    feats = torch.cat(parts).double()
    return feats.mean(0), torch.cov(feats.T)


def frechet_distance(
    mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor
) -> Tensor:
    """Squared Fréchet (2-Wasserstein) distance of two Gaussians.

    d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}), Dowson & Landau
    (1982); FID and FCD are this distance between Gaussians fitted to
    features. Tr((Σ₁ Σ₂)^{1/2}) = Σ_i √λ_i over the eigenvalues of Σ₁ Σ₂,
    which are real and ≥ 0: the product is similar to Σ₁^{1/2} Σ₂ Σ₁^{1/2}.

    Args:
        mu1, mu2: Means, shape (D,).
        cov1, cov2: Covariances (symmetric, positive semi-definite),
            shape (D, D).

    Returns:
        A scalar tensor in the dtype of the inputs (use float64).
    """
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(
            f"means must be vectors of one length D; got "
            f"{tuple(mu1.shape)} and {tuple(mu2.shape)}"
        )
    square = (len(mu1), len(mu1))
    if cov1.shape != square or cov2.shape != square:
        raise ValueError(
            f"covariances must be {square} to match the means; got "
            f"{tuple(cov1.shape)} and {tuple(cov2.shape)}"
        )
    root_trace = torch.linalg.eigvals(cov1 @ cov2).sqrt().real.sum()
    return (
        (mu1 - mu2).square().sum()
        + cov1.trace()
        + cov2.trace()
        - (2 * root_trace)
    )


@torch.no_grad()
def fcd(
    real: Tensor,
    fake: Tensor,
    *,
    classifier: FashionClassifier | None = None,
    batch_size: int = 1000,
) -> float:
    """Fréchet classifier distance between two image sets (N, 1, 28, 28).

    ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^{1/2}) over the classifier's
    128 features, in float64 (torch only, so it runs where torchmetrics is
    absent, e.g. on Colab): :func:`frechet_distance` of the two sets'
    feature means and covariances.
    """
    _check_images("real", real)
    _check_images("fake", fake)
    classifier = classifier or load_classifier()
    mu_r, cov_r = _feature_stats(real, classifier, batch_size)
    mu_f, cov_f = _feature_stats(fake, classifier, batch_size)
    return float(frechet_distance(mu_r, cov_r, mu_f, cov_f))


@torch.no_grad()
def kid(
    real: Tensor,
    fake: Tensor,
    *,
    classifier: FashionClassifier | None = None,
    subsets: int = 50,
    subset_size: int = 1000,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """Kernel distance (mean, std over subsets) in the classifier's space.

    Unbiased for any N, so it complements FCD at small sample counts.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_images("real", real)
    _check_images("fake", fake)
    classifier = classifier or load_classifier()
    size = min(subset_size, len(real), len(fake))
    metric = KernelInceptionDistance(
        feature=_Features(classifier),
        subsets=subsets,
        subset_size=size,
        normalize=True,
    )
    _feed(metric, real, real=True, batch_size=batch_size)
    _feed(metric, fake, real=False, batch_size=batch_size)
    mean, std = metric.compute()
    return float(mean), float(std)


def _predicted_classes(
    images: Tensor, classifier: FashionClassifier | None, batch_size: int
) -> Tensor:
    """The classifier's class for every image, on the CPU, shape (N,)."""
    classifier = classifier or load_classifier()
    return torch.cat(
        [
            classifier(part.float()).argmax(1).cpu()
            for part in images.split(batch_size)
        ]
    )


@torch.no_grad()
def class_histogram(
    images: Tensor,
    *,
    classifier: FashionClassifier | None = None,
    batch_size: int = 1000,
) -> Tensor:
    """Share of images the classifier puts in each class, shape (10,)."""
    _check_images("images", images)
    predicted = _predicted_classes(images, classifier, batch_size)
    return torch.bincount(predicted, minlength=10).float() / len(images)


@torch.no_grad()
def class_agreement(
    images: Tensor,
    labels: Tensor,
    *,
    classifier: FashionClassifier | None = None,
    batch_size: int = 1000,
) -> float:
    """Share of class-conditioned samples the classifier reads back as the
    class they were asked for (1.0: every sample is its requested class)."""
    _check_images("images", images)
    if labels.shape != images.shape[:1]:
        raise ValueError(
            f"labels must hold one class per image, shape ({len(images)},); "
            f"got {tuple(labels.shape)}"
        )
    predicted = _predicted_classes(images, classifier, batch_size)
    return (predicted == labels.cpu()).float().mean().item()


@torch.no_grad()
def nearest_neighbour_distances(
    samples: Tensor, train: Tensor, *, batch_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Each sample's nearest training image: (RMS pixel distance, index).

    Distances are root-mean-square differences in [-1, 1] pixel units, so
    0 means a copy and about 0.5 or more a clearly different image.
    """
    flat_train = train.flatten(1).float()  # (M, D)
    dists, index = [], []
    for start in range(0, len(samples), batch_size):
        part = samples[start : start + batch_size].flatten(1).float()
        d = torch.cdist(part, flat_train)  # (b, M)
        best, where = d.min(dim=1)
        dists.append(best / flat_train.shape[1] ** 0.5)
        index.append(where)
    return torch.cat(dists), torch.cat(index)


def toy_report(samples: Tensor, mixture: GaussianMixture) -> dict:
    """Exact metrics of 2-D samples against the true mixture density.

    Returns the cross-entropy −E log p(samples) (nats), the entropy of the
    mixture estimated on as many of its own samples (the best achievable
    cross-entropy), their gap, and the share of samples nearest to each
    component.
    """
    n = len(samples)
    g = torch.Generator().manual_seed(0)
    reference = mixture.sample(n, generator=g)
    cross_entropy = -mixture.log_prob(samples).mean().item()
    entropy = -mixture.log_prob(reference).mean().item()
    nearest = torch.cdist(samples.double(), mixture.means).argmin(dim=1)
    shares = torch.bincount(nearest, minlength=len(mixture.means)) / n
    return {
        "n": n,
        "cross_entropy_nats": cross_entropy,
        "entropy_nats": entropy,
        "gap_nats": cross_entropy - entropy,
        "component_shares": shares.tolist(),
    }
