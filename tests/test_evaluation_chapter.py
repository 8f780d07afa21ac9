"""The evaluation chapter: the bound as a training loss and as an NLL on
continuous data, the mixture's entropy, the energy distance, and the
Fréchet-distance exercise.

The bound is checked where it is known exactly: for data x_0 ~ N(0, I)
and the exact ε*, the model's joint p_θ(x_{0:T}) is the forward process's
q(x_{0:T}) (σ_t² = β_t is the true reverse variance there), so the bound
equals −log q(x_0) on average; and a network off ε* by a constant δ pays
Σ_t λ_t δ², the weights the training loss uses.
"""

import math

import pytest
import torch

import ddpm_lib as dl
from ddpm_book import exercises as ex
from ddpm_book.evaluation import (
    OBJECTIVES,
    PAPER_CIFAR10,
    bound_loss,
    bound_timestep_weights,
    compare_objectives,
    comparison_figure,
    energy_distance,
    mixture_entropy,
    nll_bound,
)
from ddpm_book.exercises import evaluation, grading
from ddpm_book.objective import bound_weight, train_toy
from ddpm_lib.evaluation.metrics import frechet_distance

pytestmark = pytest.mark.usefixtures("one_thread")


def standard_normal(dim: int = 2) -> dl.GaussianMixture:
    """N(0, I) as a one-component mixture, with its exact ε*."""
    return dl.GaussianMixture(
        means=torch.zeros(1, dim, dtype=torch.float64),
        stds=torch.ones(1, dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )


def exact_eps(mixture, sched):
    """ε*(x_t, t) as a model, for batches that share one t."""
    return lambda x_t, t: mixture.optimal_eps(sched, x_t, int(t[0]))


# -- training on the bound ----------------------------------------------


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_weights_are_lambda_t_and_the_decoder_weight_at_t_1(sched, variance):
    weight = bound_timestep_weights(sched, variance)
    t = torch.arange(2, sched.T + 1)
    torch.testing.assert_close(weight[1:], bound_weight(sched, t, variance))
    # L_0 = −log N(x_0; μ_θ(x_1, 1), β_1 I): weight β_1 / (2 β_1 α_1).
    torch.testing.assert_close(weight[0], 1 / (2 * sched.alpha[1]))
    assert weight.shape == (sched.T,) and (weight > 0).all()


def test_the_importance_sampled_loss_is_unbiased_for_the_bound(sched):
    # A "network" whose error depends on t only: ε_θ = c_t, so that
    # E‖ε − ε_θ‖² / D = 1 + c_t² and the bound's part is Σ_t λ_t (1 + c_t²).
    c = torch.linspace(-1, 1, sched.T + 1, dtype=torch.float64)

    def model(x_t, t):
        return c[t, None].expand_as(x_t).to(x_t)

    weight = bound_timestep_weights(sched)
    exact = (weight * (1 + c[1:].square())).sum()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(400_000, 2, generator=g, dtype=torch.float64)
    estimate = bound_loss(sched, model, x0, generator=g)
    # Uniform t with the weight λ_t T would be unbiased too, but its
    # spread is set by the few draws of t near 1 (λ_1 = 0.5 against a
    # mean of 0.01): importance sampling keeps it that of L_simple.
    torch.testing.assert_close(estimate, exact, rtol=5e-3, atol=0)


def test_train_toy_takes_the_bound_as_its_objective(sched):
    data = dl.eight_gaussians().sample(2000, generator=torch.Generator())
    default = train_toy(data, sched, steps=5, seed=3)
    simple = train_toy(data, sched, steps=5, seed=3, objective=dl.loss_simple)
    torch.testing.assert_close(default.losses, simple.losses, rtol=0, atol=0)
    bound = train_toy(data, sched, steps=200, seed=3, objective=bound_loss)
    assert bound.losses.isfinite().all()
    assert bound.losses[-50:].mean() < bound.losses[:50].mean()


# -- the bound on continuous data ---------------------------------------


def test_the_bound_is_exact_on_average_for_gaussian_data_and_eps_star():
    sched = dl.linear_schedule(200)
    gaussian = standard_normal()
    g = torch.Generator().manual_seed(1)
    x0 = gaussian.sample(4000, generator=g).double()
    bound = nll_bound(sched, exact_eps(gaussian, sched), x0, generator=g)
    gap = bound.total - (-gaussian.log_prob(x0) / 2)  # (B,)
    stderr = gap.std() / math.sqrt(len(gap))
    assert abs(gap.mean()) < 4 * stderr and stderr < 0.02
    entropy = 0.5 * math.log(2 * math.pi * math.e)  # of N(0, 1), per dim
    assert bound.mean == pytest.approx(entropy, abs=4 * bound.stderr)
    assert bound.terms.shape == (4000, 199) and bound.prior.shape == (4000,)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_an_offset_from_eps_star_costs_the_training_weights(variance):
    # With the same x_0 and ε, L(ε* + δ) − L(ε*) = Σ_t λ_t δ² on average.
    sched = dl.linear_schedule(100)
    mixture = dl.eight_gaussians()
    best = exact_eps(mixture, sched)
    x0 = mixture.sample(3000, generator=torch.Generator()).double()
    delta = 0.2
    bounds = [
        nll_bound(
            sched,
            model,
            x0,
            variance=variance,
            generator=torch.Generator().manual_seed(2),
        ).total
        for model in (best, lambda x_t, t: best(x_t, t) + delta)
    ]
    difference = bounds[1] - bounds[0]
    weight = bound_timestep_weights(sched, variance)
    expected = weight.sum().item() * delta**2
    stderr = (difference.std() / math.sqrt(len(difference))).item()
    assert difference.mean() == pytest.approx(expected, abs=4 * stderr)
    assert stderr < 0.1 * expected


def test_entropy_of_a_gaussian():
    std = 0.5
    narrow = dl.GaussianMixture(
        means=torch.zeros(1, 3, dtype=torch.float64),
        stds=torch.full((1,), std, dtype=torch.float64),
        weights=torch.ones(1, dtype=torch.float64),
    )
    value, stderr = mixture_entropy(
        narrow, 100_000, generator=torch.Generator().manual_seed(0)
    )
    exact = 0.5 * math.log(2 * math.pi * math.e * std**2)
    assert value == pytest.approx(exact, abs=4 * stderr) and stderr < 0.01


def test_energy_distance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    assert energy_distance(x, x) == pytest.approx(0, abs=1e-9)
    y = x + torch.tensor([1.0, 0.0])
    assert energy_distance(x, y) == pytest.approx(energy_distance(y, x))
    assert energy_distance(x, y) > 0.1
    # Two point masses at distance 5: 2 · 5 − 0 − 0.
    points = torch.zeros(10, 2)
    assert energy_distance(points, points + torch.tensor([3.0, 4.0])) == (
        pytest.approx(10.0)
    )


# -- the comparison -----------------------------------------------------


def test_the_paper_numbers_show_the_trade_off():
    paper = PAPER_CIFAR10
    assert "2006.11239v2" in paper["citation"]
    assert paper["nll_bound"] < paper["nll_simple"]
    assert paper["fid_bound"] > paper["fid_simple_test"] > paper["fid_simple"]


def test_a_small_comparison_runs_end_to_end():
    result = compare_objectives(
        steps=30,
        n_eval=64,
        n_samples=128,
        n_train=1000,
        n_entropy=2000,
        sched=dl.linear_schedule(50),
    )
    assert tuple(r.objective for r in result.rows) == OBJECTIVES
    for row in result.rows:
        assert math.isfinite(row.nll) and row.energy >= 0
        assert row.samples.shape == (128, 2) and row.losses.shape == (30,)
        assert row.excess == pytest.approx(row.gap - result.optimal_gap[0])
    assert result.row("L_simple") is result.rows[0]
    assert result.energy_floor >= 0 and result.entropy_stderr > 0
    text = str(result)
    assert all(name in text for name in (*OBJECTIVES, "exact ε*", "data"))
    assert max(len(line) for line in text.splitlines()) <= 79
    fig = comparison_figure(result)
    assert len(fig.axes) == 5
    import matplotlib.pyplot as plt

    plt.close(fig)


# -- the exercise: the Fréchet distance between two Gaussians -----------


def my_frechet(mu1, cov1, mu2, cov2):
    """As a learner may write it: Tr (Σ₁ Σ₂)^{1/2} via the symmetric
    Σ₁^{1/2} Σ₂ Σ₁^{1/2}, which has the same eigenvalues."""
    w, v = torch.linalg.eigh(cov1)
    root1 = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T
    middle = torch.linalg.eigvalsh(root1 @ cov2 @ root1)
    root_trace = middle.clamp(min=0).sqrt().sum()
    return (
        (mu1 - mu2).square().sum()
        + cov1.trace()
        + cov2.trace()
        - (2 * root_trace)
    )


def sqrtm(cov):
    w, v = torch.linalg.eigh(cov)
    return v @ torch.diag(w.sqrt()) @ v.T


def frechet_separate_roots(mu1, cov1, mu2, cov2):
    cross = sqrtm(cov1) @ sqrtm(cov2)
    return (mu1 - mu2).square().sum() + torch.trace(cov1 + cov2 - 2 * cross)


def frechet_elementwise(mu1, cov1, mu2, cov2):
    root = torch.sqrt(cov1 @ cov2)  # NaN off the diagonal: not in the trace
    return (mu1 - mu2).square().sum() + torch.trace(cov1 + cov2 - 2 * root)


def frechet_not_squared(mu1, cov1, mu2, cov2):
    return (
        my_frechet(mu1, cov1, mu2, cov2)
        - (mu1 - mu2).square().sum()
        + (torch.linalg.vector_norm(mu1 - mu2))
    )


def frechet_without_two(mu1, cov1, mu2, cov2):
    root_trace = torch.linalg.eigvals(cov1 @ cov2).sqrt().real.sum()
    return (
        (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - (root_trace)
    )


MISTAKES = [
    (lambda *a: my_frechet(*a).sqrt(), "returns the distance d"),
    (
        lambda m1, c1, m2, c2: my_frechet(m1, c1, m1, c2),
        "drops the mean term",
    ),
    (frechet_not_squared, "without squaring it"),
    (frechet_separate_roots, "square roots of the two covariances"),
    (frechet_elementwise, "entry by entry"),
    (frechet_without_two, "forgets the factor 2"),
    (
        lambda m1, c1, m2, c2: my_frechet(m1, c1 @ c1, m2, c2 @ c2),
        "treats the covariances as standard deviations",
    ),
]


def test_the_reference_and_a_learners_answer_pass():
    for fn in (frechet_distance, my_frechet):
        feedback = ex.check_frechet_distance(fn)
        assert feedback.passed and "Note" not in feedback.message, feedback
        assert repr(feedback).startswith("✔")


def test_an_unwritten_answer_is_unfinished():
    def stub(mu1, cov1, mu2, cov2):
        raise NotImplementedError()

    feedback = ex.check_frechet_distance(stub)
    assert feedback.unfinished and not feedback.passed
    assert "not written yet" in repr(feedback)


@pytest.mark.parametrize(
    "fn, hint", MISTAKES, ids=[hint for _, hint in MISTAKES]
)
def test_each_classic_mistake_gets_its_own_hint(fn, hint):
    feedback = ex.check_frechet_distance(fn)
    assert not feedback.passed and not feedback.unfinished
    assert hint in feedback.message, feedback.message
    assert repr(feedback).startswith("✘")


@pytest.mark.parametrize(
    "mistake",
    evaluation._FRECHET.mistakes,
    ids=lambda m: m.hint[:30],
)
def test_every_known_mistake_is_recognised_and_named(mistake):
    feedback = grading.grade(evaluation._FRECHET, mistake.fn)
    assert not feedback.passed
    assert mistake.hint in feedback.message, feedback.message


def test_the_cases_tell_the_mistakes_apart():
    # Non-commuting covariances, and no two mistakes alike on every case.
    cases = evaluation._FRECHET.cases()
    assert {len(c.args[0]) for c in cases} >= {1, 2, 6}
    assert all(c.args[1].dtype == torch.float64 for c in cases)
    _, cov1, _, cov2 = cases[1].args
    assert not torch.allclose(cov1 @ cov2, cov2 @ cov1)
    fns = [frechet_distance] + [m.fn for m in evaluation._FRECHET.mistakes]
    values = torch.tensor([[fn(*c.args).item() for c in cases] for fn in fns])
    for i in range(len(fns)):
        for j in range(i):
            assert not torch.allclose(values[i], values[j], rtol=1e-6)


def test_wrong_answers_get_a_message_not_a_traceback():
    feedback = ex.check_frechet_distance(
        lambda m1, c1, m2, c2: (m1 - m2).square().sum() + 0.9 * c1.trace()
    )
    assert "wrong values for" in feedback.message
    assert "(Σ₁ Σ₂)^{1/2}" in feedback.message
    complex_answer = ex.check_frechet_distance(
        lambda m1, c1, m2, c2: torch.linalg.eigvals(c1 @ c2).sqrt().sum()
    )
    assert "complex" in complex_answer.message
    crashes = ex.check_frechet_distance(
        lambda m1, c1, m2, c2: c1 @ torch.cat([m1, m2])  # (D, D) @ (2D,)
    )
    assert crashes.message.startswith("raised RuntimeError")
    assert "(for D = 1)" in crashes.message
