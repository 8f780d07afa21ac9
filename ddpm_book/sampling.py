"""Helpers of the sampling chapter: trajectories, their frames, quality.

The samplers themselves are ``ddpm_lib``'s (:func:`ddpm_lib.ddpm_sample`,
:func:`ddpm_lib.ddim_sample`); they yield one record per network call, so
a trajectory costs nothing beyond the sampling. This module keeps a few of
those records, draws them, reads the quality result file and gives the
exercise its known noise predictor (the exact ε of a Gaussian mixture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
from torch import Tensor

import ddpm_lib as dl
from ddpm_lib.diffusion.sampling import SampleStep
from ddpm_lib.diffusion.toy import GaussianMixture
from ddpm_lib.evaluation import metrics

__all__ = [
    "Trajectory",
    "class_agreement",
    "ddpm_side_by_side",
    "mixture_eps_model",
    "noises_like_ddpm_sample",
    "quality_figure",
    "record",
    "recorded_steps",
    "samples_figure",
    "start_noise",
    "trajectory_figure",
]


class Trajectory(NamedTuple):
    """Some records of a sampling run.

    Attributes:
        t: The recorded steps, decreasing, ending with 0 (the sample).
        x_t: The samples x_t at those steps, shape (K, B, *S).
        x0_hat: The predictions x̂_0 made from them, shape (K, B, *S).
    """

    t: list[int]
    x_t: Tensor
    x0_hat: Tensor


def recorded_steps(T: int, k: int) -> list[int]:
    """About ``k`` steps from T down to 0, denser near 0 (quadratic).

    The picture changes fastest in the last steps of sampling, so the
    steps are t = round(T · u²) on an even grid of u in [0, 1], with 1
    always included.
    """
    if k < 3:
        raise ValueError(f"need k >= 3 recorded steps; got {k}")
    u = torch.linspace(1, 0, k, dtype=torch.float64)
    steps = {round(T * v * v) for v in u.tolist()} | {1}
    return sorted(steps, reverse=True)


def record(
    trajectory: Iterator[SampleStep], keep: Iterable[int]
) -> Trajectory:
    """Run a sampler to the end, keeping the records at the steps ``keep``.

    Args:
        trajectory: A sampler's generator, e.g. ``dl.ddpm_sample(...)``.
        keep: The steps to keep (others are dropped as they pass); a step
            the sampler never visits is simply absent.

    Returns:
        The kept records, on the CPU, in the order the sampler made them.
    """
    keep = set(keep)
    ts, xs, x0s = [], [], []
    for step in trajectory:
        if step.t in keep:
            ts.append(step.t)
            xs.append(step.x_t.detach().cpu())
            x0s.append(step.x0_hat.detach().cpu())
    if not ts:
        raise ValueError("no record of the trajectory is at a kept step")
    return Trajectory(ts, torch.stack(xs), torch.stack(x0s))


@torch.no_grad()
def ddpm_side_by_side(
    model: Callable[[Tensor, Tensor], Tensor],
    sched: dl.Schedule,
    x_T: Tensor,  # noqa: N803
    *,
    variances: tuple[str, ...] = ("beta", "beta_tilde"),
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    keep: Iterable[int] = (0,),
) -> dict[str, Trajectory]:
    """Algorithm 2 for several choices of σ_t² at once, on the same noise.

    The chains start from the same x_T and use the same z in every step,
    drawn as :func:`ddpm_lib.ddpm_sample` draws them (one z of x_T's shape
    per step, t = T, …, 1), so chain ``v`` is what
    ``ddpm_sample(..., variance=v, generator=generator)`` makes with the
    generator in the same state. Each step is the library's
    :func:`ddpm_lib.ddpm_step`. The only difference from running the
    sampler once per choice is the cost: one network call per step serves
    all chains, stacked in one batch.

    Args:
        model: ``model(x, t)`` for the stacked batch of
            ``len(variances) * B`` inputs (e.g. class labels repeated).
        sched: The schedule.
        x_T: The start, shape (B, *S).
        variances: The choices of σ_t², ``"beta"`` or ``"beta_tilde"``.
        clip_x0: Clip x̂_0 to [-1, 1] in every step.
        generator: Random source of the z.
        keep: Steps whose records are kept (0 is the sample).

    Returns:
        Per choice, the kept records (as :func:`record` returns them).
    """
    keep = set(keep)
    k = len(variances)
    chains = [x_T] * k
    kept: dict[str, list] = {v: [] for v in variances}
    for t in range(sched.T, -1, -1):
        if t == 0:
            x0_hats = chains
        else:
            stacked = torch.cat(chains)  # (k B, *S)
            t_batch = torch.full(
                (len(stacked),), t, dtype=torch.long, device=x_T.device
            )
            eps_pred = model(stacked, t_batch)
            x0_hats = dl.x0_from_eps(sched, stacked, t_batch, eps_pred)
            if clip_x0:
                x0_hats = x0_hats.clamp(-1, 1)
            x0_hats = list(x0_hats.chunk(k))
        if t in keep:
            for v, x, x0 in zip(variances, chains, x0_hats, strict=True):
                kept[v].append((t, x.detach().cpu(), x0.detach().cpu()))
        if t == 0:
            break
        z = torch.randn(
            x_T.shape, generator=generator, device=x_T.device, dtype=x_T.dtype
        )
        chains = [
            dl.ddpm_step(
                sched,
                x,
                t,
                e,
                variance=v,
                clip_x0=clip_x0,
                noise=z,
            )
            for x, e, v in zip(
                chains, eps_pred.chunk(k), variances, strict=True
            )
        ]
    return {
        v: Trajectory(
            [r[0] for r in records],
            torch.stack([r[1] for r in records]),
            torch.stack([r[2] for r in records]),
        )
        for v, records in kept.items()
    }


def start_noise(n: int, *, seed: int, device=None) -> tuple[Tensor, Tensor]:
    """x_T for ``n`` Fashion-MNIST-shaped images, and its generator.

    Drawn as :func:`ddpm_lib.generate` draws it: the first draw of a
    generator seeded with ``seed``. Passing the returned generator on to a
    sampler reproduces ``generate``'s images exactly.

    Returns:
        ``(x_T, generator)``: x_T of shape (n, 1, 28, 28).
    """
    g = torch.Generator(device or "cpu").manual_seed(seed)
    x_T = torch.randn((n, 1, 28, 28), generator=g, device=device)  # noqa: N806
    return x_T, g


def trajectory_figure(traj: Trajectory, k: int, *, size: float = 1.5):
    """Record ``k`` of a trajectory: x_t in the top row, x̂_0 below."""
    t = traj.t[k]
    fig = samples_figure(
        {
            f"x_{t}" if t else "x₀": traj.x_t[k],
            "sample" if t == 0 else "x̂₀": traj.x0_hat[k],
        },
        size=size,
    )
    fig.suptitle(f"t = {t}", fontsize=9)
    return fig


def samples_figure(rows: dict[str, Tensor], *, size: float = 0.8):
    """Rows of images (B, C, H, W) in [-1, 1], each row named at its left."""
    from ddpm_lib.io.images import image_grid

    names = list(rows)
    b = rows[names[0]].shape[0]
    fig, axes = plt.subplots(
        len(names),
        b,
        figsize=(size * b + 1.4, size * len(names)),
        squeeze=False,
        layout="constrained",
    )
    for name, row in zip(names, axes, strict=True):
        images = rows[name].detach().cpu().clamp(-1, 1)
        for i, ax in enumerate(row):
            img = image_grid(images[i : i + 1]).squeeze(-1).numpy()
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        row[0].set_ylabel(
            name, rotation=0, ha="right", va="center", fontsize=9
        )
    return fig


def noises_like_ddpm_sample(
    shape: tuple[int, ...],
    T: int,  # noqa: N803
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """The per-step noises z that :func:`ddpm_lib.ddpm_sample` would draw.

    ``ddpm_sample`` draws one z of the data's shape in every step, from
    t = T down to t = 1 (and then ignores the one of t = 1). This function
    makes the same draws from ``generator`` and stores them by step, so a
    loop that reads ``noises[t]`` at step t makes the same images as
    ``ddpm_sample`` with a generator in the same state.

    Returns:
        Shape (T + 1, *shape): ``noises[t]`` is the z of step t;
        ``noises[0]`` is zero (no step uses it).
    """
    noises = torch.zeros((T + 1, *shape), dtype=dtype)
    for t in range(T, 0, -1):
        noises[t] = torch.randn(shape, generator=generator, dtype=dtype)
    return noises


def mixture_eps_model(
    mixture: GaussianMixture, sched: dl.Schedule
) -> Callable[[Tensor, Tensor], Tensor]:
    """The exact noise predictor ε*(x_t, t) of a mixture, as a model.

    The returned ``eps_model(x_t, t)`` takes x_t of shape (B, D) and t as
    an int or a (B,) tensor of steps (as the library's samplers pass it)
    and returns ε* of the shape and dtype of x_t.
    """

    def eps_model(x_t: Tensor, t: Tensor | int) -> Tensor:
        t = torch.as_tensor(t).reshape(-1).expand(x_t.shape[0])
        out = torch.empty_like(x_t)
        for step in t.unique().tolist():
            at = t == step
            out[at] = mixture.optimal_eps(sched, x_t[at], int(step))
        return out

    return eps_model


@torch.no_grad()
def class_agreement(
    unet,
    sched: dl.Schedule,
    n: int,
    steps: int,
    *,
    classifier,
    seed: int = 0,
    batch_size: int = 256,
) -> float:
    """Share of ``n`` DDIM samples the classifier puts in their class.

    Labels 0, 1, …, 9, 0, … (:func:`ddpm_lib.class_labels`), DDIM with
    ``steps`` steps and η = 0, x̂_0 clipped (``generate``'s defaults).
    """
    device = next(unet.parameters()).device
    labels = dl.class_labels(n, 10, device=device)
    g = torch.Generator(device).manual_seed(seed)
    x = dl.generate(
        unet,
        sched,
        n,
        sampler="ddim",
        steps=steps,
        labels=labels,
        generator=g,
        batch_size=batch_size,
    )
    x = x.to(next(classifier.parameters()).device)
    return metrics.class_agreement(x, labels, classifier=classifier)


def quality_figure(result: dict):
    """FCD and class agreement against DDIM steps, from bench/quality.py.

    ``result`` is the parsed ``results/quality_steps.json``; rows with
    guidance or without labels are left out.
    """
    rows = [
        r
        for r in result["rows"]
        if r["conditional"] and r["guidance"] == 0 and r["sampler"] == "ddim"
    ]
    rows.sort(key=lambda r: r["steps"])
    steps = [r["steps"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.6), layout="constrained")
    axes[0].plot(steps, [r["fcd"] for r in rows], "o-")
    axes[0].set(ylabel="FCD (lower is better)")
    axes[1].plot(steps, [r["agreement"] for r in rows], "o-")
    axes[1].set(ylabel="class agreement", ylim=(0, 1))
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.minorticks_off()
        ax.set(xlabel="DDIM steps")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"Sample quality against steps, N = {result['n']} images per point",
        fontsize=10,
    )
    return fig
