"""L_simple (Eq. 14, Algorithm 1) for ε-, x0- and v-prediction."""

import pytest
import torch

import ddpm_lib as dl


def test_loss_simple_is_the_mse_to_eps(sched, gen):
    x0 = torch.randn(4, 1, 5, 5, generator=gen)
    eps = torch.randn(4, 1, 5, 5, generator=gen)
    t = torch.tensor([1, 10, 100, 1000])
    seen = {}

    def model(x_t, t_in):
        seen["x_t"], seen["t"] = x_t, t_in
        return 0.5 * x_t

    loss = dl.loss_simple(sched, model, x0, t=t, eps=eps)
    x_t = dl.q_sample(sched, x0, t, eps)
    torch.testing.assert_close(seen["x_t"], x_t)
    assert seen["t"].tolist() == t.tolist()
    torch.testing.assert_close(loss, ((eps - 0.5 * x_t) ** 2).mean())


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_the_ideal_predictor_has_zero_loss(sched, gen, prediction):
    # All data equals c: the ideal network knows x_0, hence ε, hence v.
    c = torch.tensor([0.2, -0.4, 0.9], dtype=torch.float64)
    x0 = c.expand(8, 3)

    def ideal(x_t, t):
        eps = dl.eps_from_x0(sched, x_t, t, x0)
        return {"eps": eps, "x0": x0, "v": dl.v_from_eps(sched, x0, t, eps)}[
            prediction
        ]

    loss = dl.loss_simple(
        sched, ideal, x0, prediction=prediction, generator=gen
    )
    assert loss.item() < 1e-20
    wrong = dl.loss_simple(
        sched, lambda x, t: 0 * x, x0, prediction=prediction
    )
    assert wrong.item() > 1e-3


def test_targets(sched, gen):
    x0, eps = (
        torch.randn(2, 3, generator=gen),
        torch.randn(2, 3, generator=gen),
    )
    t = torch.tensor([3, 300])
    assert dl.training_target(sched, x0, t, eps, "eps") is eps
    assert dl.training_target(sched, x0, t, eps, "x0") is x0
    torch.testing.assert_close(
        dl.training_target(sched, x0, t, eps, "v"),
        dl.v_from_eps(sched, x0, t, eps),
    )


def test_sampled_timesteps_cover_1_to_T(gen):
    sched = dl.linear_schedule(10)
    t = dl.sample_timesteps(sched, 20_000, generator=gen)
    assert t.dtype == torch.long and t.min() == 1 and t.max() == 10
    counts = torch.bincount(t, minlength=11)
    assert counts[0] == 0
    assert (counts[1:] - 2000).abs().max() < 250  # uniform, 5+ std. errors


def test_loss_is_differentiable_and_reproducible(sched):
    net = torch.nn.Linear(3, 3)
    x0 = torch.randn(16, 3)
    a = dl.loss_simple(
        sched,
        lambda x, t: net(x),
        x0,
        generator=torch.Generator().manual_seed(5),
    )
    b = dl.loss_simple(
        sched,
        lambda x, t: net(x),
        x0,
        generator=torch.Generator().manual_seed(5),
    )
    assert a.item() == b.item()
    a.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_loss_errors(sched):
    x0 = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="one value per input value"):
        dl.loss_simple(sched, lambda x, t: x.sum(1), x0)
    with pytest.raises(ValueError, match="prediction must be"):
        dl.loss_simple(sched, lambda x, t: x, x0, prediction="score")
    with pytest.raises(ValueError, match="1 <= t <= T"):
        dl.loss_simple(sched, lambda x, t: x, x0, t=torch.tensor([0, 1]))


def test_loss_precision(sched):
    x64 = torch.randn(4, 3, dtype=torch.float64)
    assert dl.loss_simple(sched, lambda x, t: x, x64).dtype == torch.float64
    x16 = torch.randn(4, 3, dtype=torch.bfloat16)
    assert dl.loss_simple(sched, lambda x, t: x, x16).dtype == torch.float32
