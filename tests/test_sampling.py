"""Samplers: Algorithm 2 and DDIM, driven by exactly known noise predictors."""

import pytest
import torch

import ddpm_lib as dl


def point_mass_model(sched, c):
    """The ideal ε-predictor when all data equals c: Eq. (4) solved for ε."""

    def model(x_t, t):
        return dl.eps_from_x0(sched, x_t, t, c.expand_as(x_t))

    return model


def mixture_model(sched, mixture):
    """The ideal ε-predictor for a Gaussian mixture, in closed form."""

    def model(x_t, t):
        return mixture.optimal_eps(sched, x_t, int(t[0]))

    return model


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_sample_yields_every_step_and_lands_on_the_data(sched, variance):
    c = torch.tensor([[0.3, -0.8]], dtype=torch.float64)
    x_T = torch.randn(
        4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    steps = list(
        dl.ddpm_sample(
            point_mass_model(sched, c),
            sched,
            x_T,
            variance=variance,
            generator=torch.Generator().manual_seed(2),
        )
    )
    assert [s.t for s in steps] == list(range(1000, -1, -1))
    assert steps[0].x_t is x_T
    # With the exact ε every x̂_0 is the data point, and at t = 1 the
    # posterior mean is x_0 itself (β̃_1 = 0, z = 0).
    for s in steps[::97]:
        torch.testing.assert_close(s.x0_hat, c.expand(4, 2))
    torch.testing.assert_close(steps[-1].x_t, c.expand(4, 2))
    torch.testing.assert_close(steps[-1].x0_hat, steps[-1].x_t)


def test_ddpm_with_the_exact_score_recovers_a_mixture(gen):
    sched = dl.linear_schedule(1000)
    mix = dl.eight_gaussians()
    x_T = torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    x0 = dl.final_sample(
        dl.ddpm_sample(
            mixture_model(sched, mix),
            sched,
            x_T,
            variance="beta",
            generator=gen,
        )
    )
    radius = x0.norm(dim=1)
    assert (radius - 2).abs().median() < 0.1  # on the circle of means
    # Each of the eight components gets about 1/8 of the samples.
    nearest = torch.cdist(x0, mix.means).argmin(dim=1)
    share = torch.bincount(nearest, minlength=8) / len(x0)
    assert (share - 1 / 8).abs().max() < 0.03
    # and the spread within a component is its std, 0.1.
    within = (x0 - mix.means[nearest]).std()
    assert within.item() == pytest.approx(0.1, rel=0.15)


def test_ddim_with_the_exact_score_recovers_a_mixture_in_50_steps(gen):
    sched = dl.linear_schedule(1000)
    mix = dl.eight_gaussians()
    x_T = torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    steps = dl.ddim_timesteps(1000, 50)
    x0 = dl.final_sample(
        dl.ddim_sample(mixture_model(sched, mix), sched, x_T, steps)
    )
    nearest = torch.cdist(x0, mix.means).argmin(dim=1)
    share = torch.bincount(nearest, minlength=8) / len(x0)
    assert (share - 1 / 8).abs().max() < 0.03
    assert (x0.norm(dim=1) - 2).abs().median() < 0.1


def test_ddim_eta_1_over_every_step_is_ddpm_with_beta_tilde(sched):
    mix = dl.eight_gaussians()
    model = mixture_model(sched, mix)
    x_T = torch.randn(
        64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    ddpm = list(
        dl.ddpm_sample(
            model,
            sched,
            x_T,
            variance="beta_tilde",
            generator=torch.Generator().manual_seed(4),
        )
    )
    ddim = list(
        dl.ddim_sample(
            model,
            sched,
            x_T,
            range(1000, 0, -1),
            eta=1.0,
            generator=torch.Generator().manual_seed(4),
        )
    )
    assert [s.t for s in ddim] == [s.t for s in ddpm]
    for a, b in zip(ddpm[::50], ddim[::50], strict=True):
        torch.testing.assert_close(a.x_t, b.x_t)
    torch.testing.assert_close(ddpm[-1].x_t, ddim[-1].x_t)


def test_ddim_eta_0_sampling_is_deterministic(sched):
    model = mixture_model(sched, dl.eight_gaussians())
    x_T = torch.randn(16, 2, dtype=torch.float64)
    steps = dl.ddim_timesteps(1000, 10)
    a = dl.final_sample(dl.ddim_sample(model, sched, x_T, steps))
    b = dl.final_sample(dl.ddim_sample(model, sched, x_T, steps))
    torch.testing.assert_close(a, b)


def test_samplers_accept_x0_and_v_predicting_models(sched):
    c = torch.tensor([[0.5, -0.25]], dtype=torch.float64)
    x_T = torch.randn(3, 2, dtype=torch.float64)

    def x0_model(x_t, t):
        return c.expand_as(x_t)

    def v_model(x_t, t):
        eps = dl.eps_from_x0(sched, x_t, t, c.expand_as(x_t))
        return dl.v_from_eps(sched, c.expand_as(x_t), t, eps)

    for model, prediction in ((x0_model, "x0"), (v_model, "v")):
        out = dl.final_sample(
            dl.ddim_sample(
                model,
                sched,
                x_T,
                dl.ddim_timesteps(1000, 20),
                prediction=prediction,
            )
        )
        torch.testing.assert_close(out, c.expand(3, 2))


def test_ddim_timesteps_spacings():
    assert dl.ddim_timesteps(1000, 50)[:3] == [1000, 980, 960]
    assert dl.ddim_timesteps(1000, 50)[-1] == 20
    assert dl.ddim_timesteps(1000, 50, spacing="leading")[0] == 981
    assert dl.ddim_timesteps(1000, 50, spacing="leading")[-1] == 1
    assert dl.ddim_timesteps(10, 10) == list(range(10, 0, -1))
    uneven = dl.ddim_timesteps(1000, 7)
    assert len(set(uneven)) == 7 and uneven == sorted(uneven, reverse=True)
    with pytest.raises(ValueError, match="num_steps"):
        dl.ddim_timesteps(100, 101)
    with pytest.raises(ValueError, match="spacing"):
        dl.ddim_timesteps(100, 10, spacing="linear")


def test_clip_x0_keeps_predictions_in_range(sched):
    def wild_model(x_t, t):
        return -10 * torch.ones_like(x_t)

    x_T = torch.randn(4, 3)
    for step in dl.ddpm_sample(
        wild_model, sched, x_T, variance="beta", clip_x0=True
    ):
        if step.t > 0:
            assert step.x0_hat.abs().max() <= 1


def test_sampler_errors_say_what_was_expected(sched):
    x_T = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="strictly decreasing"):
        next(dl.ddim_sample(lambda x, t: x, sched, x_T, [10, 20]))
    with pytest.raises(ValueError, match="1..T"):
        next(dl.ddim_sample(lambda x, t: x, sched, x_T, [1001, 500]))
    with pytest.raises(ValueError, match="one value per input value"):
        next(
            dl.ddpm_sample(lambda x, t: x[:, :1], sched, x_T, variance="beta")
        )
    with pytest.raises(ValueError, match="yielded nothing"):
        dl.final_sample(iter([]))
