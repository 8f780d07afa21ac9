"""The forward process: Eq. (4) in closed form against the chain Eq. (2)."""

import pytest
import torch

import ddpm_lib as dl


def test_q_sample_is_eq_4(sched, gen):
    x0 = torch.randn(5, 3, 4, 4, generator=gen)
    eps = torch.randn(5, 3, 4, 4, generator=gen)
    t = torch.tensor([1, 10, 100, 500, 1000])
    ab = sched.alpha_bar[t].float().view(-1, 1, 1, 1)
    expected = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    torch.testing.assert_close(dl.q_sample(sched, x0, t, eps), expected)


def test_q_sample_with_zero_noise_scales_by_sqrt_alpha_bar(sched, gen):
    # The mean is √ᾱ_t·x0 and the noise scale the *standard deviation*.
    x0 = torch.randn(2, 7, generator=gen)
    t = 300
    out = dl.q_sample(sched, x0, t, torch.zeros_like(x0))
    torch.testing.assert_close(out, sched.alpha_bar[t].sqrt().float() * x0)
    noise_only = dl.q_sample(
        sched, torch.zeros_like(x0), t, torch.ones_like(x0)
    )
    std = (1 - sched.alpha_bar[t]).sqrt().float()
    torch.testing.assert_close(noise_only, torch.full_like(x0, std.item()))


def _chain_and_closed_form_agree(sched, x0, t, gen, n):
    """Monte-Carlo moments of the iterated chain vs Eq. (4).

    With n draws the sample mean has standard error √((1 − ᾱ_t)/n) and the
    sample variance ≈ (1 − ᾱ_t)·√(2/n); we allow 5 standard errors.
    """
    batch = x0.expand(n, *x0.shape[1:]).contiguous()
    chain = dl.q_chain(sched, batch, t, generator=gen)
    ab = sched.alpha_bar[t].item()
    mean_err = 5 * ((1 - ab) / n) ** 0.5
    var_err = 5 * (1 - ab) * (2 / n) ** 0.5
    torch.testing.assert_close(
        chain.mean(0),
        (ab**0.5 * x0[0]).expand_as(chain[0]),
        atol=mean_err,
        rtol=0,
    )
    torch.testing.assert_close(
        chain.var(0), torch.full_like(chain[0], 1 - ab), atol=var_err, rtol=0
    )


@pytest.mark.parametrize("t", [1, 50, 300])
def test_iterated_chain_matches_closed_form_in_2d(sched, gen, t):
    x0 = torch.tensor([[1.5, -0.7]])
    _chain_and_closed_form_agree(sched, x0, t, gen, n=20_000)


def test_iterated_chain_matches_closed_form_for_images(gen):
    sched = dl.cosine_schedule(100)
    x0 = torch.rand(1, 1, 8, 8, generator=gen) * 2 - 1
    _chain_and_closed_form_agree(sched, x0, 60, gen, n=4_000)


def test_x0_from_eps_inverts_q_sample(sched, gen):
    x0 = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
    eps = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 700, 1000])
    x_t = dl.q_sample(sched, x0, t, eps)
    torch.testing.assert_close(dl.x0_from_eps(sched, x_t, t, eps), x0)
    torch.testing.assert_close(dl.eps_from_x0(sched, x_t, t, x0), eps)


def test_v_parameterisation_round_trips(sched, gen):
    x0 = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    eps = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 3, 30, 300, 999, 1000])
    x_t = dl.q_sample(sched, x0, t, eps)
    v = dl.v_from_eps(sched, x0, t, eps)
    ab = sched.alpha_bar[t].view(-1, 1)
    torch.testing.assert_close(v, ab.sqrt() * eps - (1 - ab).sqrt() * x0)
    torch.testing.assert_close(dl.x0_from_v(sched, x_t, t, v), x0)
    torch.testing.assert_close(dl.eps_from_v(sched, x_t, t, v), eps)
    for prediction, output in (("eps", eps), ("x0", x0), ("v", v)):
        torch.testing.assert_close(
            dl.eps_from_prediction(sched, x_t, t, output, prediction), eps
        )


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.bfloat16]
)
def test_outputs_follow_the_data_dtype(sched, dtype):
    x0 = torch.ones(2, 3, dtype=dtype)
    assert dl.q_sample(sched, x0, 5, torch.ones_like(x0)).dtype == dtype
    assert dl.q_step(sched, x0, 5, torch.ones_like(x0)).dtype == dtype
    assert dl.x0_from_eps(sched, x0, 5, torch.ones_like(x0)).dtype == dtype


def test_schedule_on_another_device_than_data_is_fine(sched):
    # The schedule stays float64; data in float32 gets float32 results.
    x0 = torch.ones(2, 3)
    out = dl.q_sample(sched.to("cpu"), x0, torch.tensor([1, 2]), x0)
    assert out.dtype == torch.float32 and out.device == x0.device


def test_forward_errors_say_what_was_expected(sched):
    x0 = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="one shape"):
        dl.q_sample(sched, x0, 1, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="1 <= t <= T"):
        dl.q_sample(sched, x0, 0, x0)
    with pytest.raises(ValueError, match="floating-point"):
        dl.q_sample(sched, torch.zeros(2, 3, dtype=torch.uint8), 1, x0)
    with pytest.raises(ValueError, match="prediction must be"):
        dl.eps_from_prediction(sched, x0, 1, x0, "score")
    with pytest.raises(ValueError, match="one int t"):
        dl.q_chain(sched, x0, torch.tensor([1, 2]))
