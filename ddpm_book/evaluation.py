"""Likelihood against sample quality: Ho et al. (2020) Table 1, in 2-D.

On CIFAR-10, training on the true variational bound L (fixed isotropic
Σ, ε-prediction) gave the better likelihood but the worse samples, and
L_simple the reverse (:data:`PAPER_CIFAR10`). This module repeats the
comparison on the 2-D Gaussian mixture of :mod:`ddpm_lib.diffusion.toy`,
where a small network trains in seconds and the data's density is known
exactly, so that a model's NLL bound can be read against the data's
entropy, the lower limit of any model's NLL.

- :func:`bound_loss` is an unbiased estimate of the bound (up to
  constants) for ε-prediction with fixed σ_t², with t drawn by importance
  sampling; :func:`~ddpm_book.objective.train_toy` trains with it.
- :func:`nll_bound` is the bound L_T + Σ_{t≥2} L_{t−1} + L_0 on
  continuous data, in nats per dimension, with a continuous Gaussian
  decoder at t = 1.
- :func:`mixture_entropy` is −E log q(x_0), by Monte Carlo.
- :func:`energy_distance` compares two point sets; a model is read
  against the *floor*, two independent draws of the mixture.
- :func:`compare_objectives` runs it all; :func:`comparison_figure`
  draws it.

The rest serves the chapter's pretrained-model sections: the decoder of
Eq. (13) (:func:`bin_masses`, :func:`decoder_floor_bpd`,
:func:`decoder_figure`), the bound term by term from
``results/likelihood.json`` (``bench/likelihood.py``), and the sample
quality figures from ``results/pretrained_eval.json`` and
``results/quality_protocol.json`` (``python -m ddpm_lib.evaluate``,
``bench/protocol.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import ddpm_lib as dl
from ddpm_book.objective import (
    SampleSummary,
    bound_weight,
    sample_summary,
    train_toy,
)
from ddpm_lib.evaluation.metrics import nearest_neighbour_distances

__all__ = [
    "OBJECTIVES",
    "PAPER_CIFAR10",
    "PIXEL_LEVELS",
    "bin_masses",
    "bound_terms_figure",
    "decoder_figure",
    "decoder_floor_bpd",
    "histogram_figure",
    "machine",
    "mean_std",
    "neighbours_figure",
    "protocol_figure",
    "share_of_bound",
    "Comparison",
    "NllBound",
    "ObjectiveRow",
    "bound_loss",
    "bound_timestep_weights",
    "compare_objectives",
    "comparison_figure",
    "energy_distance",
    "mixture_entropy",
    "nll_bound",
]

# Ho et al. (2020), arXiv:2006.11239v2, unconditional CIFAR-10: Table 1
# (NLL on the test set, bits/dim; FID against the training set) and §4.1
# (the FID of the L_simple model against the test set).
PAPER_CIFAR10 = {
    "citation": "Ho et al. (2020), arXiv:2006.11239v2, Table 1 and §4.1",
    "nll_bound": 3.70,  # L, fixed isotropic Σ: NLL ≤ 3.70 bits/dim
    "nll_simple": 3.75,  # L_simple: NLL ≤ 3.75 bits/dim
    "fid_bound": 13.51,  # L, fixed isotropic Σ
    "fid_simple": 3.17,  # L_simple, against the training set
    "fid_simple_test": 5.24,  # L_simple, against the test set
}

# The two objectives compared, by the names the table prints.
OBJECTIVES = ("L_simple", "L (bound)")


# -- training on the bound ----------------------------------------------


def bound_timestep_weights(
    sched: dl.Schedule, variance: dl.Variance | str = "beta"
) -> Tensor:
    """λ_t for t = 1, …, T: the bound's weight on the noise error.

    For t ≥ 2, :func:`~ddpm_book.objective.bound_weight` with the chosen
    σ_t². At t = 1 the term is the decoder L_0 = −log N(x_0; μ_θ(x_1, 1),
    β_1 I), whose variance is β_1 for either choice (β̃_1 = 0 would make
    it a point mass); it equals λ_1 ‖ε − ε_θ‖² plus a constant, with the
    weight λ_1 = 1 / (2 α_1) of σ_1² = β_1.

    Returns:
        Shape (T,), float64; entry t − 1 belongs to step t.
    """
    t = torch.arange(1, sched.T + 1)
    weight = bound_weight(sched, t, variance)
    weight[0] = bound_weight(sched, 1, "beta")[0]  # the decoder's, β_1
    return weight


def bound_loss(
    sched: dl.Schedule,
    model: nn.Module,
    x0: Tensor,
    *,
    variance: dl.Variance | str = "beta",
    generator: torch.Generator | None = None,
) -> Tensor:
    """The true bound L as a training loss, nats per dimension.

    Σ_t λ_t E‖ε − ε_θ(x_t, t)‖² / D, which is the bound up to terms free
    of θ. Drawing t uniformly, as L_simple does, gives an estimator whose
    variance is dominated by the rare small t of large λ_t; here
    t ~ p(t) = λ_t / Σ_s λ_s instead, and the importance weight
    λ_t / p(t) = Σ_s λ_s is the same for every t, so the estimate is
    L_simple's squared error on these t, times Σ_s λ_s: unbiased for the
    bound, with the variance of L_simple.

    Args:
        sched: The noise schedule.
        model: The network, ``model(x_t, t) -> eps_pred``.
        x0: A batch of clean data, shape (B, D).
        variance: σ_t² of the reverse steps t ≥ 2, ``"beta"`` or
            ``"beta_tilde"`` (see :func:`bound_timestep_weights`).
        generator: Random source of t and ε.

    Returns:
        A scalar.
    """
    weight = bound_timestep_weights(sched, variance).to(x0.device)  # (T,)
    t = 1 + torch.multinomial(
        weight / weight.sum(), len(x0), replacement=True, generator=generator
    )  # (B,), t ~ p(t) ∝ λ_t
    mse = dl.loss_simple(sched, model, x0, t=t, generator=generator)
    return weight.sum().to(mse.dtype) * mse


# -- the likelihood bound on continuous data ----------------------------


@dataclass(frozen=True)
class NllBound:
    """The bound −log p_θ(x_0) ≤ L of a set of points, nats per dimension.

    Attributes:
        total: L per point, shape (B,).
        prior: L_T per point, shape (B,).
        decoder: L_0 per point, shape (B,).
        terms: L_{t−1} per point for t = 2, …, T, shape (B, T − 1).
    """

    total: Tensor
    prior: Tensor
    decoder: Tensor
    terms: Tensor

    @property
    def mean(self) -> float:
        """The bound of the set: the mean of ``total``."""
        return self.total.mean().item()

    @property
    def stderr(self) -> float:
        """The Monte Carlo standard error of :attr:`mean`."""
        return (self.total.std() / math.sqrt(len(self.total))).item()


@torch.no_grad()
def nll_bound(
    sched: dl.Schedule,
    model,
    x0: Tensor,
    *,
    variance: dl.Variance | str = "beta",
    generator: torch.Generator | None = None,
) -> NllBound:
    """The variational bound, Ho et al. (2020) Eq. (5), on continuous data.

    L = L_T + Σ_{t=2}^{T} L_{t−1} + L_0 in nats per dimension (the library
    reports bits; here they are multiplied by ln 2). L_T and the KL terms
    L_{t−1} are the library's (:func:`~ddpm_lib.prior_bpd`,
    :func:`~ddpm_lib.vlb_term_bpd`). The data are real numbers, not pixel
    levels, so L_0 is a continuous Gaussian decoder
    −log N(x_0; μ_θ(x_1, 1), β_1 I) instead of the discretised one of
    Eq. (13): its variance β_1 is σ_1² of the choice σ_t² = β_t (β̃_1 = 0
    would be a point mass), and close to the best constant variance,
    since x_0 given x_1 is spread by about √β_1 when the data vary on a
    larger scale. Each step's term uses one fresh draw of ε per point,
    so every total is an unbiased estimate of the point's bound.

    Args:
        sched: The noise schedule (T ≥ 2).
        model: ``model(x_t, t) -> eps_pred``; called once per step with a
            batch that shares one t.
        x0: Points, shape (B, D); computed in their dtype (use float64).
        variance: σ_t² of the reverse steps, ``"beta"`` or ``"beta_tilde"``.
        generator: Random source of the noise.
    """
    nats = math.log(2)  # bits → nats
    prior = dl.prior_bpd(sched, x0) * nats  # L_T, (B,)
    # L_0: x_1 from x_0, then the decoder N(μ_θ(x_1, 1), β_1 I).
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    one = torch.ones(len(x0), dtype=torch.long)
    x_1 = dl.q_sample(sched, x0, one, eps)
    mean = dl.mu_theta(sched, x_1, one, model(x_1, one))  # Eq. (11)
    decoder_var = dl.reverse_variance(sched, one, "beta").to(x0.dtype)
    decoder_std = dl.append_dims(decoder_var.sqrt(), x0.ndim)
    log_lik = torch.distributions.Normal(mean, decoder_std).log_prob(x0)
    decoder = -log_lik.flatten(1).mean(1)  # (B,)
    terms = []
    for t in range(2, sched.T + 1):  # L_{t−1}, a KL, Eq. (5)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        terms.append(
            dl.vlb_term_bpd(sched, model, x0, t, eps, variance=variance)
        )
    terms = torch.stack(terms, dim=1) * nats  # (B, T − 1)
    return NllBound(
        total=prior + decoder + terms.sum(1),
        prior=prior,
        decoder=decoder,
        terms=terms,
    )


def mixture_entropy(
    mixture: dl.GaussianMixture,
    n: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """−E log q(x_0) / D, nats per dimension: the lower limit of any NLL.

    Monte Carlo over n draws with the exact density
    :meth:`~ddpm_lib.GaussianMixture.log_prob`.

    Returns:
        The estimate and its standard error.
    """
    nll = -mixture.log_prob(mixture.sample(n, generator=generator))
    nll = nll / mixture.dim  # (n,), per dimension
    return nll.mean().item(), (nll.std() / math.sqrt(n)).item()


def _optimal_model(mixture: dl.GaussianMixture, sched: dl.Schedule):
    """ε*(x_t, t) of the mixture as a ``model(x_t, t)``, for batches that
    share one t (as :func:`nll_bound` and the samplers call it)."""

    def model(x_t: Tensor, t: Tensor) -> Tensor:
        return mixture.optimal_eps(sched, x_t, int(t[0]))

    return model


# -- sample quality -----------------------------------------------------


def energy_distance(x: Tensor, y: Tensor) -> float:
    """The energy distance of two point sets (Székely & Rizzo, 2013).

    2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ with every mean over all pairs of
    the two sets (a V-statistic, so never negative). It is 0 only when
    the two distributions are equal, and it is sensitive to the share of
    mass in each mode, unlike a Gaussian fit (FID), which sees only a mean
    and a covariance. Finite sets of one distribution still score above 0:
    compare only sets of equal sizes, against two independent draws of
    the data.

    Args:
        x: Points, shape (N, D).
        y: Points, shape (M, D).
    """
    x, y = x.double(), y.double()
    between = torch.cdist(x, y).mean()
    within_x, within_y = torch.cdist(x, x).mean(), torch.cdist(y, y).mean()
    return (2 * between - within_x - within_y).item()


# -- the comparison -----------------------------------------------------


@dataclass(frozen=True)
class ObjectiveRow:
    """One trained model of the comparison.

    Attributes:
        objective: ``"L_simple"`` or ``"L (bound)"``.
        nll: Its NLL bound on held-out points, nats per dimension.
        gap: ``nll`` minus the exact −log q(x_0) / D of the same points:
            how far the bound is above the data's entropy.
        gap_stderr: The Monte Carlo standard error of ``gap`` (and of
            ``nll`` against the exact entropy).
        excess: ``nll`` minus the bound of the exact ε* on the same
            points with the same noise: Σ_t λ_t E‖ε* − ε_θ‖² / D, what
            the network's errors cost.
        excess_stderr: Its standard error, far smaller than that of
            ``gap`` (the noise of the two bounds largely cancels).
        energy: Energy distance of its samples to fresh mixture points.
        summary: Shares, spread and log-density of its samples.
        samples: Its samples, shape (N, 2).
        losses: Its training loss per step.
        seconds: Training time.
    """

    objective: str
    nll: float
    gap: float
    gap_stderr: float
    excess: float
    excess_stderr: float
    energy: float
    summary: SampleSummary
    samples: Tensor
    losses: Tensor
    seconds: float


@dataclass(frozen=True)
class Comparison:
    """L_simple against the bound on the 2-D mixture (see
    :func:`compare_objectives`).

    Attributes:
        rows: One row per objective, in the order of :data:`OBJECTIVES`.
        entropy: −E log q(x_0) per dimension (nats), the lower limit.
        entropy_stderr: Its Monte Carlo standard error.
        optimal_nll: The bound of the exact ε* (nats per dimension): the
            lowest bound any ε-network reaches with these fixed σ_t².
        optimal_gap: ``optimal_nll`` minus the exact −log q(x_0) / D of
            the same points, and its standard error.
        optimal_energy: Energy distance of samples drawn with the exact
            ε* (the sampler's own error).
        energy_floor: Energy distance between two independent sets of
            mixture points of the sample size: what a perfect model scores.
        data: Mixture points of the sample size, shape (N, 2).
        data_summary: :func:`~ddpm_book.objective.sample_summary` of
            ``data``: what perfect samples score.
        variance: σ_t² of the reverse steps.
        seconds: Wall time of the whole comparison.
    """

    rows: tuple[ObjectiveRow, ...]
    entropy: float
    entropy_stderr: float
    optimal_nll: float
    optimal_gap: tuple[float, float]
    optimal_energy: float
    energy_floor: float
    data: Tensor
    data_summary: SampleSummary
    variance: str
    seconds: float

    def row(self, objective: str) -> ObjectiveRow:
        """The row of ``objective`` (``"L_simple"`` or ``"L (bound)"``)."""
        return next(r for r in self.rows if r.objective == objective)

    def __str__(self) -> str:
        def pm(value: tuple[float, float] | None) -> str:
            if value is None:
                return f"{'':13s}"
            return f"{value[0]:6.3f}±{value[1]:.3f}"

        def line(name, nll, gap, excess, energy, summary=None):
            text = f"{name:9s} {nll:6.3f} {pm(gap)} {pm(excess)}"
            text += f" {energy:8.5f}"
            if summary is not None:
                text += (
                    f" {summary.spread:6.3f} {summary.log_density:6.2f}"
                    f" {summary.shares.max().item():5.3f}"
                )
            return text

        lines = [
            f"{'':9s} {'NLL':>6s} {'above entropy':>13s} {'above ε*':>13s}"
            f" {'energy':>8s} {'spread':>6s} {'log q':>6s} {'max':>5s}",
            f"{'':9s} {'nats/dim':>34s} {'distance':>8s} {'':6s}"
            f" {'nats':>6s} {'share':>5s}",
        ]
        for r in self.rows:
            lines.append(
                line(
                    r.objective,
                    r.nll,
                    (r.gap, r.gap_stderr),
                    (r.excess, r.excess_stderr),
                    r.energy,
                    r.summary,
                )
            )
        lines.append(
            line(
                "exact ε*",
                self.optimal_nll,
                self.optimal_gap,
                None,
                self.optimal_energy,
            )
        )
        lines.append(
            line(
                "data",
                self.entropy,
                (0.0, self.entropy_stderr),
                None,
                self.energy_floor,
                self.data_summary,
            )
        )
        return "\n".join(lines)


def _paired(bound: NllBound, other: Tensor) -> tuple[float, float]:
    """Mean and standard error of the bound minus ``other`` (B,), point
    by point."""
    gap = bound.total - other
    return gap.mean().item(), (gap.std() / math.sqrt(len(gap))).item()


def _sample(model, sched, n, variance, seed) -> Tensor:
    """n samples of Algorithm 2, shape (n, 2), float32."""
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, 2, generator=g)
    trajectory = dl.ddpm_sample(
        model, sched, x_T, variance=variance, generator=g
    )
    return dl.final_sample(trajectory)


def _in_float64(model: nn.Module):
    """``model`` called on float64 points, answering in float64."""

    def call(x_t: Tensor, t: Tensor) -> Tensor:
        return model(x_t.float(), t).double()

    return call


def compare_objectives(
    *,
    steps: int = 5000,
    n_eval: int = 1000,
    n_samples: int = 4000,
    n_train: int = 50_000,
    n_entropy: int = 200_000,
    variance: dl.Variance | str = "beta",
    lr: float = 5e-3,
    seed: int = 0,
    mixture: dl.GaussianMixture | None = None,
    sched: dl.Schedule | None = None,
) -> Comparison:
    """Train on L_simple and on the bound; score likelihood and samples.

    Two :class:`~ddpm_book.objective.ToyEpsMLP` are trained by
    :func:`~ddpm_book.objective.train_toy` on the same points with the same
    seed, one with L_simple and one with :func:`bound_loss`. Each is
    scored by its NLL bound (:func:`nll_bound`) on held-out points and by
    the energy distance of n_samples of its samples (Algorithm 2, with the
    same σ_t²) to fresh mixture points. Held-out points, the bound's noise
    and the samplers' noise are shared by the two models, so their
    difference is not blurred by Monte Carlo noise.

    Args:
        steps: Training steps of each model.
        n_eval: Held-out points for the NLL bound.
        n_samples: Samples per model for the sample quality.
        n_train: Training points.
        n_entropy: Points for the entropy of the mixture.
        variance: σ_t², ``"beta"`` (Ho et al.'s CIFAR-10 choice) or
            ``"beta_tilde"``: in the bound, in its training weights and in
            the sampler.
        lr: Peak learning rate of both trainings.
        seed: Seed of everything random.
        mixture: The data; eight Gaussians on a circle by default.
        sched: The schedule; the paper's linear one, T = 1000, by default.
    """
    start = time.perf_counter()
    mixture = mixture or dl.eight_gaussians()
    sched = sched or dl.linear_schedule()
    variance = dl.Variance(variance).value
    gens = [torch.Generator().manual_seed(seed + i) for i in range(4)]
    train = mixture.sample(n_train, generator=gens[0])
    held_out = mixture.sample(n_eval, generator=gens[1]).double()
    reference = mixture.sample(n_samples, generator=gens[2])
    data = mixture.sample(n_samples, generator=gens[3])
    true_nll = -mixture.log_prob(held_out) / mixture.dim  # (n_eval,)
    noise_seed = seed + 10  # the same noise for every bound

    def bound_of(model) -> NllBound:
        g = torch.Generator().manual_seed(noise_seed)
        return nll_bound(
            sched, model, held_out, variance=variance, generator=g
        )

    best = _optimal_model(mixture, sched)
    optimal = bound_of(best)
    objectives = {
        "L_simple": dl.loss_simple,
        "L (bound)": lambda s, m, x0, *, generator: bound_loss(
            s, m, x0, variance=variance, generator=generator
        ),
    }
    rows = []
    for name, objective in objectives.items():
        tic = time.perf_counter()
        run = train_toy(
            train, sched, steps=steps, lr=lr, seed=seed, objective=objective
        )
        seconds = time.perf_counter() - tic
        bound = bound_of(_in_float64(run.model))
        gap, gap_stderr = _paired(bound, true_nll)
        excess, excess_stderr = _paired(bound, optimal.total)
        with torch.no_grad():
            samples = _sample(run.model, sched, n_samples, variance, seed + 11)
        rows.append(
            ObjectiveRow(
                objective=name,
                nll=bound.mean,
                gap=gap,
                gap_stderr=gap_stderr,
                excess=excess,
                excess_stderr=excess_stderr,
                energy=energy_distance(samples, reference),
                summary=sample_summary(samples, mixture),
                samples=samples,
                losses=run.losses,
                seconds=seconds,
            )
        )
    optimal_samples = _sample(best, sched, n_samples, variance, seed + 11)
    entropy, entropy_stderr = mixture_entropy(
        mixture, n_entropy, generator=torch.Generator().manual_seed(seed + 12)
    )
    return Comparison(
        rows=tuple(rows),
        entropy=entropy,
        entropy_stderr=entropy_stderr,
        optimal_nll=optimal.mean,
        optimal_gap=_paired(optimal, true_nll),
        optimal_energy=energy_distance(optimal_samples, reference),
        energy_floor=energy_distance(data, reference),
        data=data,
        data_summary=sample_summary(data, mixture),
        variance=variance,
        seconds=time.perf_counter() - start,
    )


def comparison_figure(comparison: Comparison):
    """Samples of both models beside the data, and the two scores.

    Top: scatter plots of the mixture's points and of each model's
    samples (same axes). Bottom left: each NLL bound above the data's
    entropy, with the bound of the exact ε* (bars: ± 2 standard errors).
    Bottom right: energy distances of the samples to fresh mixture
    points, with the floor of a second set of mixture points.

    Returns:
        The matplotlib figure.
    """
    fig, axes = plt.subplot_mosaic(
        [["data", "L_simple", "L (bound)"], ["nll", "nll", "energy"]],
        figsize=(9, 6),
        layout="constrained",
        height_ratios=[1.2, 1],
    )
    colors = {"L_simple": "C0", "L (bound)": "C3", "exact ε*": "0.5"}
    panels = [("data", "data (mixture)", comparison.data, "0.3")] + [
        (r.objective, f"trained on {r.objective}", r.samples, None)
        for r in comparison.rows
    ]
    for key, title, points, color in panels:
        ax = axes[key]
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=1,
            alpha=0.4,
            color=color or colors[key],
            rasterized=True,
        )
        ax.set(title=title, xlim=(-3, 3), ylim=(-3, 3), aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
    names = [r.objective for r in comparison.rows] + ["exact ε*"]
    gaps = [r.gap for r in comparison.rows] + [comparison.optimal_gap[0]]
    errors = [2 * r.gap_stderr for r in comparison.rows]
    errors.append(2 * comparison.optimal_gap[1])
    ax = axes["nll"]
    ax.barh(names, gaps, xerr=errors, color=[colors[n] for n in names])
    ax.axvline(0, color="k", lw=0.8)
    ax.invert_yaxis()
    ax.set(
        xlabel="NLL bound − entropy of the data (nats/dim)",
        title="likelihood (lower is better)",
    )
    ax = axes["energy"]
    names = [r.objective for r in comparison.rows] + ["exact ε*", "data"]
    values = [r.energy for r in comparison.rows]
    values += [comparison.optimal_energy, comparison.energy_floor]
    ax.bar(
        range(len(names)),
        values,
        color=[colors.get(n, "0.8") for n in names],
    )
    ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
    ax.set(title="samples (lower is better)", ylabel="energy distance")
    return fig


# -- the pretrained model: the decoder, the bound, sample quality -------

# The 256 values a pixel can take, scaled to [-1, 1] like the model's data.
PIXEL_LEVELS = torch.linspace(-1, 1, 256, dtype=torch.float64)


def bin_masses(mean: float, std: float) -> Tensor:
    """Probabilities the Eq. (13) decoder gives the 256 pixel levels.

    The library's ``discretized_gaussian_log_likelihood`` evaluated at
    every level for one Gaussian N(mean, std²); shape (256,), float64.
    """
    log_p = dl.discretized_gaussian_log_likelihood(
        PIXEL_LEVELS,
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(std, dtype=torch.float64),
    )
    return log_p.exp()


def decoder_floor_bpd(sched: dl.Schedule, x0: Tensor) -> Tensor:
    """L_0 of a perfect network: the decoder's cost when μ_θ(x_1, 1) = x_0.

    At t = 1 the posterior mean μ̃_1 is x_0 itself (β̃_1 = 0), so the
    network that predicts the true ε puts the decoder's mean on the pixel;
    what is left is the mass of one bin under a Gaussian of standard
    deviation √β̃_2. Computed with the library's bound term.

    Args:
        sched: The noise schedule (T ≥ 2).
        x0: Images on the pixel grid in [-1, 1], shape (B, *S).

    Returns:
        Bits/dim per image, shape (B,).
    """
    x0 = x0.double()
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    t = torch.ones(len(x0), dtype=torch.long)
    x_1 = dl.q_sample(sched, x0, t, eps)
    return dl.vlb_term_from_eps_bpd(
        sched, x0, x_1, t, eps, variance="beta_tilde"
    )


def decoder_figure(std: float, pixels: Sequence[int] = (0, 128)):
    """The decoder's Gaussian around two pixel values, bins shaded.

    ``pixels`` are 8-bit values; each panel centres N(x, std²) on one of
    them and shades the bin whose mass is its probability (the edge bin of
    0 stretches to −∞). The x axis is in units of pixel levels.
    """
    fig, axes = plt.subplots(
        1, len(pixels), figsize=(3.6 * len(pixels), 2.6), squeeze=False
    )
    width = 2 / 255  # one pixel level in model units
    for ax, pixel in zip(axes[0], pixels, strict=True):
        x = -1 + pixel * width
        grid = torch.linspace(-4, 4, 801, dtype=torch.float64)  # levels
        density = torch.exp(-0.5 * (grid * width / std) ** 2)
        density = density / (std * math.sqrt(2 * math.pi)) * width
        ax.plot(grid.numpy(), density.numpy(), color="C0")
        lower = -4 if pixel == 0 else -0.5
        upper = 4 if pixel == 255 else 0.5
        inside = (grid >= lower) & (grid <= upper)
        ax.fill_between(
            grid[inside].numpy(), density[inside].numpy(), alpha=0.35
        )
        for edge in torch.arange(-3.5, 4, 1.0):
            ax.axvline(edge.item(), color="0.8", lw=0.6, zorder=0)
        mass = bin_masses(x, std)[pixel].item()
        ax.set_title(f"pixel {pixel}: p = {mass:.2f}", fontsize=10)
        ax.set_xlabel("offset from x₀ (pixel levels)")
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def share_of_bound(term_means: Sequence[float], k: int) -> float:
    """Share of Σ_t L_{t−1} (all T terms) that steps t ≤ k contribute."""
    terms = torch.tensor(term_means, dtype=torch.float64)
    return (terms[:k].sum() / terms.sum()).item()


def bound_terms_figure(result: dict):
    """Mean bound term per step t, log scale, for both reverse variances.

    ``result`` is ``results/likelihood.json``.
    """
    labels = {"beta": "σ_t² = β_t", "beta_tilde": "σ_t² = β̃_t"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for variance, row in result["variances"].items():
        terms = torch.tensor(row["term_means"])
        t = torch.arange(1, len(terms) + 1)
        left.semilogy(t.numpy(), terms.numpy(), label=labels[variance])
        share = terms.cumsum(0) / terms.sum()
        right.semilogx(t.numpy(), share.numpy(), label=labels[variance])
    left.set(xlabel="t", ylabel="bits/dim", title="term of step t")
    right.set(
        xlabel="t",
        ylabel="share",
        title="share of Σ L from steps ≤ t",
        ylim=(0, 1.02),
    )
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def histogram_figure(shares: Sequence[float], class_names: Sequence[str]):
    """Bars of the share of samples per predicted class, a line at 1/10."""
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.bar(range(len(shares)), shares, color="C0")
    ax.axhline(1 / len(shares), color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(shares)), class_names, rotation=30, fontsize=8)
    ax.set_ylabel("share of samples")
    fig.tight_layout()
    return fig


def neighbours_figure(samples: Tensor, train: Tensor):
    """Each sample above its nearest training image, with the distance.

    Returns the figure and the RMS distances (B,).
    """
    dist, index = nearest_neighbour_distances(samples, train)
    b = len(samples)
    fig, axes = plt.subplots(2, b, figsize=(1.1 * b, 2.6), squeeze=False)
    for i in range(b):
        for row, image in enumerate((samples[i], train[index[i]])):
            ax = axes[row, i]
            ax.imshow(
                image.squeeze(0).cpu().numpy(), cmap="gray", vmin=-1, vmax=1
            )
            ax.axis("off")
        axes[1, i].set_title(f"{dist[i]:.2f}", fontsize=8, y=-0.3)
    axes[0, 0].text(-0.15, 0.5, "sample", transform=axes[0, 0].transAxes,
                    ha="right", va="center", fontsize=9)  # fmt: skip
    axes[1, 0].text(-0.15, 0.5, "nearest\ntraining", ha="right",
                    transform=axes[1, 0].transAxes, va="center",
                    fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig, dist


def protocol_figure(result: dict):
    """FCD and KID against the number of images, samples and floor.

    ``result`` is ``results/quality_protocol.json``; error bars are the
    standard deviation over disjoint sets of n images (over KID's subsets
    where there is one set).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    rows = {
        "model samples": result["sample_count"],
        "training images (floor)": result["floor_count"],
    }
    for label, row in rows.items():
        n = [r["n"] for r in row]
        left.errorbar(
            n,
            [r["fcd"] for r in row],
            yerr=[r["fcd_std"] or 0 for r in row],
            fmt="o-",
            label=label,
            capsize=2,
        )
        right.errorbar(
            n,
            [r["kid"][0] for r in row],
            yerr=[r["kid"][1] for r in row],
            fmt="o-",
            label=label,
            capsize=2,
        )
    left.set(xlabel="number of images N", ylabel="FCD", title="FCD")
    left.set_xscale("log")
    left.set_yscale("log")
    right.set(xlabel="number of images N", ylabel="KID", title="KID")
    right.set_xscale("log")
    right.axhline(0, color="k", lw=0.6)
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def machine(result: dict) -> str:
    """The machine a result file was computed on, in words."""
    hardware = result["provenance"]["hardware"]
    return hardware.get("gpu") or f"{hardware['cpu_count']}-core CPU"


def mean_std(mean: float, std: float | None) -> str:
    """ "12.34 ± 0.56", or the mean alone when there is no spread."""
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"
