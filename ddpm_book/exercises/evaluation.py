"""Checks for the evaluation chapter: the Fréchet distance between two
Gaussians, the formula behind FID.

Every classic mistake is the library's ``frechet_distance`` with its
inputs or output perturbed. Three of them use a helper of this module: a
symmetric matrix's square root by its eigendecomposition, the step the
learner took where the library takes the root of the product Σ₁ Σ₂.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ddpm_book.exercises.grading import (
    Case,
    Exercise,
    Feedback,
    Mistake,
    generator,
    grade,
)
from ddpm_lib.evaluation.metrics import frechet_distance

__all__ = ["check_frechet_distance"]


def _sqrtm(cov: Tensor) -> Tensor:
    """Σ^{1/2} of a symmetric positive semi-definite Σ: V diag(√λ) Vᵀ."""
    eigenvalues, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag(eigenvalues.clamp(min=0).sqrt()) @ vectors.T


def _mean_term(mu1: Tensor, mu2: Tensor) -> Tensor:
    """‖μ₁ − μ₂‖²: the library's d² of the two means with no spread."""
    zero = torch.zeros(len(mu1), len(mu1), dtype=mu1.dtype)
    return frechet_distance(mu1, zero, mu2, zero)


def _with_cov_term(mu1: Tensor, mu2: Tensor, matrix: Tensor) -> Tensor:
    """‖μ₁ − μ₂‖² + Tr(matrix): the library's d² of N(μ₁, matrix) and
    N(μ₂, 0), the covariance term replaced by the trace of ``matrix``."""
    return frechet_distance(mu1, matrix, mu2, torch.zeros_like(matrix))


def _separate_roots(mu1, cov1, mu2, cov2) -> Tensor:
    # Tr(Σ₁ + Σ₂ − 2 Σ₁^{1/2} Σ₂^{1/2}): right only when Σ₁ Σ₂ = Σ₂ Σ₁.
    product = _sqrtm(cov1) @ _sqrtm(cov2)
    return _with_cov_term(mu1, mu2, cov1 + cov2 - 2 * product)


def _elementwise_root(mu1, cov1, mu2, cov2) -> Tensor:
    # Tr(Σ₁ + Σ₂ − 2 √(Σ₁ Σ₂)) with √ taken entry by entry; only the
    # diagonal enters the trace.
    root = torch.diag((cov1 @ cov2).diagonal().sqrt())
    return _with_cov_term(mu1, mu2, cov1 + cov2 - 2 * root)


def _without_two(mu1, cov1, mu2, cov2) -> Tensor:
    # Tr(Σ₁ + Σ₂ − (Σ₁ Σ₂)^{1/2}) = (d²_cov + Tr Σ₁ + Tr Σ₂) / 2, with
    # d²_cov the library's distance at equal means.
    cov_term = frechet_distance(mu1, cov1, mu1, cov2)
    return _with_cov_term(mu1, mu2, (cov1 + cov2) / 2) + cov_term / 2


def _mean_not_squared(mu1, cov1, mu2, cov2) -> Tensor:
    mean_term = _mean_term(mu1, mu2)
    return (
        frechet_distance(mu1, cov1, mu2, cov2) - mean_term + (mean_term.sqrt())
    )


def _spd(g: torch.Generator, eigenvalues: list[float]) -> Tensor:
    """Q diag(λ) Qᵀ with a random rotation Q: a covariance that does not
    commute with another one drawn the same way."""
    q, _ = torch.linalg.qr(
        torch.randn(len(eigenvalues), len(eigenvalues), generator=g)
    )
    q = q.double()
    return q @ torch.diag(torch.tensor(eigenvalues).double()) @ q.T


def _hidden_frechet_cases() -> list[Case]:
    g = generator(14)
    cases = []
    for dim, dtype in ((5, torch.float64), (3, torch.float32)):
        mu1, mu2 = (torch.randn(dim, generator=g) for _ in "12")
        spectrum = torch.linspace(0.5, 2.0, dim).tolist()
        cov1, cov2 = _spd(g, spectrum), _spd(g, spectrum[::-1])
        about = f"D = {dim}, random Gaussians in {str(dtype)[6:]}"
        args = tuple(x.to(dtype) for x in (mu1, cov1, mu2, cov2))
        cases.append(Case(args, about))
    return cases


def _frechet_cases() -> list[Case]:
    g = generator(13)
    d64 = torch.float64
    cases = [
        Case(
            (
                torch.tensor([0.5], dtype=d64),
                torch.tensor([[2.0]], dtype=d64),
                torch.tensor([-1.5], dtype=d64),
                torch.tensor([[0.5]], dtype=d64),
            ),
            "D = 1",
        ),
        Case(
            (
                torch.tensor([1.0, 2.0], dtype=d64),
                torch.tensor([[2.0, 0.6], [0.6, 0.5]], dtype=d64),
                torch.tensor([-0.5, 0.0], dtype=d64),
                torch.tensor([[1.0, -0.3], [-0.3, 1.5]], dtype=d64),
            ),
            "D = 2, covariances that do not commute",
        ),
    ]
    for dim in (3, 6):
        mu1, mu2 = (torch.randn(dim, generator=g, dtype=d64) for _ in "12")
        spectrum = torch.linspace(0.3, 3.0, dim).tolist()
        cov1, cov2 = _spd(g, spectrum), _spd(g, spectrum[::-1])
        cases.append(
            Case((mu1, cov1, mu2, cov2), f"D = {dim}, random Gaussians")
        )
    # Equal Gaussians: d² = 0. Square roots that are exact in floating
    # point keep rounding out of the mistakes' values (√d² of 1e-16 is
    # 1e-8, which would differ from one way of computing to another).
    mu = torch.randn(4, generator=g, dtype=d64)
    cov = torch.diag(torch.tensor([0.25, 1.0, 2.25, 4.0], dtype=d64))
    cases.append(
        Case((mu, cov, mu.clone(), cov.clone()), "D = 4, equal Gaussians")
    )
    return cases


_FRECHET = Exercise(
    name="frechet_distance",
    reference=frechet_distance,
    cases=_frechet_cases,
    hidden_cases=_hidden_frechet_cases,
    answer_functions=("ddpm_lib.evaluation.metrics.frechet_distance",),
    equation="d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})",
    returns="a single number (a 0-dim tensor)",
    mistakes=[
        Mistake(
            "returns the distance d; FID is the squared distance d², "
            "with no square root over the whole",
            lambda m1, c1, m2, c2: frechet_distance(m1, c1, m2, c2).sqrt(),
        ),
        Mistake(
            "drops the mean term ‖μ₁ − μ₂‖²; two Gaussians that differ "
            "only in their means are not at distance 0",
            lambda m1, c1, m2, c2: frechet_distance(m1, c1, m1, c2),
        ),
        Mistake(
            "adds ‖μ₁ − μ₂‖ without squaring it; the mean term is the "
            "squared Euclidean distance ‖μ₁ − μ₂‖²",
            _mean_not_squared,
        ),
        Mistake(
            "multiplies Σ₁^{1/2} Σ₂^{1/2}, the square roots of the two "
            "covariances taken separately; that equals (Σ₁ Σ₂)^{1/2} only "
            "when the covariances commute. Take the square root of the "
            "product (e.g. Tr (Σ₁ Σ₂)^{1/2} as the sum of the square "
            "roots of the eigenvalues of Σ₁ Σ₂)",
            _separate_roots,
        ),
        Mistake(
            "takes the square root of Σ₁ Σ₂ entry by entry (torch.sqrt); "
            "(Σ₁ Σ₂)^{1/2} is a matrix square root: its trace is the sum "
            "of the square roots of the eigenvalues of Σ₁ Σ₂",
            _elementwise_root,
        ),
        Mistake(
            "forgets the factor 2 in front of (Σ₁ Σ₂)^{1/2}",
            _without_two,
        ),
        Mistake(
            "treats the covariances as standard deviations and squares "
            "them; the arguments are covariance matrices Σ",
            lambda m1, c1, m2, c2: frechet_distance(m1, c1 @ c1, m2, c2 @ c2),
        ),
    ],
)


def check_frechet_distance(
    fn: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor],
    *,
    strict: bool = False,
) -> Feedback:
    """Check ``fn(mu1, cov1, mu2, cov2) -> d²``, the squared Fréchet
    distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (Dowson & Landau 1982), on
    Gaussians in 1 to 6 dimensions, in float64."""
    return grade(_FRECHET, fn, strict=strict)
