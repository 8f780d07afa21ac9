"""Helpers of the guidance chapter: samples by w, per-class spread, figures.

Classifier-free guidance itself is ``ddpm_lib``'s
(:func:`ddpm_lib.guided_eps`, used by :func:`ddpm_lib.eps_model`). This
module draws the same seeds at several guidance weights (the explorer's
frames), measures what guidance costs — the *per-class spread*, how
varied a class's samples are next to real images of that class, also
used by ``bench/quality.py`` — and draws the chapter's figures. The
cross-attention block is a sketch for the chapter's look ahead at text
conditioning: the pretrained network does not use it.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

import ddpm_lib as dl
from ddpm_lib.evaluation.classifier import FashionClassifier

__all__ = [
    "CrossAttention",
    "class_spread",
    "feature_spread",
    "features",
    "guidance_samples",
    "samples_grid",
    "spread_by_class",
    "sweep_figure",
    "sweep_rows",
]


@torch.no_grad()
def guidance_samples(
    unet: nn.Module,
    sched: dl.Schedule,
    weights,
    *,
    per_class: int,
    steps: int,
    seed: int = 0,
    num_classes: int = 10,
) -> tuple[Tensor, dict[float, Tensor]]:
    """The same starting noise sampled at every guidance weight w.

    DDIM with η = 0 draws nothing after x_T, so with the generator seeded
    alike for every w, each image position starts from the same x_T and
    the images differ only by w.

    Returns:
        labels: The class of each image, (N,) with N = num_classes ·
            per_class, class-major: per_class images of class 0 first.
        samples: w -> the images (N, C, H, W) in [-1, 1], on the CPU.
    """
    device = next(unet.parameters()).device
    labels = torch.arange(num_classes, device=device).repeat_interleave(
        per_class
    )  # (N,): 0, 0, 0, 1, 1, 1, ...
    samples = {}
    for w in weights:
        g = torch.Generator(device).manual_seed(seed)
        samples[w] = dl.generate(
            unet,
            sched,
            len(labels),
            steps=steps,
            labels=labels,
            guidance=w,
            generator=g,
        ).cpu()
    return labels.cpu(), samples


def samples_grid(
    images: Tensor,
    *,
    per_class: int,
    class_names=None,
    title: str | None = None,
    size: float = 0.62,
):
    """Class-major images (N, C, H, W) in [-1, 1]: one column per class,
    ``per_class`` rows, class names on top."""
    from ddpm_lib.io.images import image_grid

    columns = len(images) // per_class
    top = 0.2 + 0.15 * (class_names is not None) + 0.2 * bool(title)
    height = size * per_class + top  # inches: the images, then the labels
    fig, axes = plt.subplots(
        per_class, columns, figsize=(size * columns, height), squeeze=False
    )
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - top / height,
        wspace=0.06,
        hspace=0.06,
    )
    images = images.detach().cpu().clamp(-1, 1)
    for c in range(columns):
        for r in range(per_class):
            ax = axes[r, c]
            i = c * per_class + r
            img = image_grid(images[i : i + 1]).squeeze(-1).numpy()
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_axis_off()
        if class_names is not None:
            axes[0, c].set_title(class_names[c], fontsize=7, pad=2)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.05 / height, va="top")
    return fig


def feature_spread(features: Tensor) -> float:
    """Root-mean-square distance of feature vectors (N, F) to their mean.

    √(tr Σ), with Σ the covariance (N − 1 in the denominator, so the
    square is unbiased for any N ≥ 2): the typical distance of one
    vector from the centre of its group.
    """
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(
            f"features must be (N, F) with N >= 2; got {tuple(features.shape)}"
        )
    centred = features.double() - features.double().mean(0)
    return float((centred.square().sum() / (len(features) - 1)).sqrt())


@torch.no_grad()
def features(
    images: Tensor, classifier: FashionClassifier, *, batch_size: int = 1000
) -> Tensor:
    """The evaluation classifier's features of images (N, 1, 28, 28) in
    [-1, 1], shape (N, 128), on the CPU."""
    device = next(classifier.parameters()).device
    return torch.cat(
        [
            classifier.features(part.float().clamp(-1, 1).to(device)).cpu()
            for part in images.split(batch_size)
        ]
    )  # (N, 128)


def spread_by_class(
    features: Tensor, labels: Tensor, *, num_classes: int = 10
) -> list[float]:
    """:func:`feature_spread` of each class's rows of ``features`` (N, F);
    ``labels`` (N,) says which class a row belongs to."""
    if labels.shape != features.shape[:1]:
        raise ValueError(
            f"labels must be ({len(features)},); got {tuple(labels.shape)}"
        )
    labels = labels.cpu()
    return [feature_spread(features[labels == c]) for c in range(num_classes)]


def class_spread(
    samples: Tensor,
    labels: Tensor,
    reference: list[float],
    *,
    classifier: FashionClassifier,
    batch_size: int = 1000,
) -> list[float]:
    """Per-class spread of samples relative to real images, one per class.

    For class c: the feature spread (:func:`feature_spread`, in the
    evaluation classifier's 128 features) of the samples drawn *for* c,
    divided by ``reference[c]``, that of real images *of* c
    (:func:`spread_by_class` of the test set's features). 1 means as
    varied as the data; below 1, the samples of a class look more alike
    than real images of it do.

    Args:
        samples: Generated images (N, 1, 28, 28) in [-1, 1].
        labels: The class each sample was drawn for, (N,); every class
            at least twice.
        reference: The real images' spread of each class.
        classifier: The evaluation classifier.
        batch_size: Images per classifier call.
    """
    fake = spread_by_class(
        features(samples, classifier, batch_size=batch_size),
        labels,
        num_classes=len(reference),
    )
    return [f / r for f, r in zip(fake, reference, strict=True)]


def sweep_rows(result: dict) -> list[dict]:
    """The conditional DDIM rows of a ``bench/quality.py`` result, by w."""
    rows = [
        r
        for r in result["rows"]
        if r["conditional"] and r["sampler"] == "ddim"
    ]
    return sorted(rows, key=lambda r: r["guidance"])


def sweep_figure(result: dict):
    """Class agreement, FCD and per-class spread against the weight w.

    ``result`` is the parsed ``results/quality_guidance.json``. The spread
    panel shows each class thin and grey, their mean in colour.
    """
    rows = sweep_rows(result)
    w = [r["guidance"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(8.5, 2.7), layout="constrained")
    axes[0].plot(w, [r["agreement"] for r in rows], "o-")
    axes[0].set(ylabel="class agreement", ylim=(None, 1.005))
    axes[1].plot(w, [r["fcd"] for r in rows], "o-")
    axes[1].set(ylabel="FCD (lower is better)")
    per_class = list(zip(*(r["spread"] for r in rows), strict=True))
    for spread in per_class:
        axes[2].plot(w, spread, color="0.75", lw=0.8)
    axes[2].plot(w, [r["spread_mean"] for r in rows], "o-")
    axes[2].axhline(1, color="0.4", ls=":", lw=1)
    axes[2].set(ylabel="spread (1 = as the data)", ylim=(0, None))
    for ax in axes:
        ax.set(xlabel="guidance weight w")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"Guidance sweep: DDIM, {rows[0]['steps']} steps, "
        f"N = {result['n']} images per point",
        fontsize=10,
    )
    return fig


class CrossAttention(nn.Module):
    """Image positions attend to text tokens: where text would enter.

    A sketch beside :class:`ddpm_lib.networks.unet.AttnBlock`, which is
    *self*-attention (queries, keys and values all from the feature map).
    Here the queries come from the feature map and the keys and values
    from ``context`` — e.g. the token features of a text encoder such as
    CLIP's, shape (B, L, D) — as in latent diffusion (Rombach et al.
    2022). Like ``AttnBlock`` it is residual and starts as the identity
    (zero-initialised output projection).

    Args:
        channels: C of the feature map.
        context_dim: D of the context tokens.
        groups: GroupNorm groups.
    """

    def __init__(self, channels: int, context_dim: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def attention(self, x: Tensor, context: Tensor) -> Tensor:
        """The attention weights (B, HW, L): how much each position reads
        from each token (rows sum to 1)."""
        b, c, h, w = x.shape
        q = self.q(self.norm(x)).reshape(b, c, h * w).transpose(1, 2)
        k, _ = self.kv(context).chunk(2, dim=-1)  # q (B, HW, C), k (B, L, C)
        return F.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        """x (B, C, H, W) and context (B, L, D) → (B, C, H, W)."""
        b, c, h, w = x.shape
        _, v = self.kv(context).chunk(2, dim=-1)  # (B, L, C)
        out = self.attention(x, context) @ v  # (B, HW, C): tokens mixed
        out = out.transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)
        return x + self.proj(out)
