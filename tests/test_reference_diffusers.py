"""Cross-check against an independent implementation: Hugging Face diffusers.

diffusers indexes steps from 0, so its timestep k is our t = k + 1; the
conversion goes through ddpm_lib.diffusion.interop only. diffusers keeps its
schedule in float32, hence the float32 tolerances.
"""

import pytest
import torch
from conftest import require

import ddpm_lib as dl
from ddpm_lib.diffusion.interop import from_zero_based, to_zero_based

diffusers = require("diffusers")

T = 1000


def _ddpm_scheduler(**kwargs):
    return diffusers.DDPMScheduler(
        num_train_timesteps=T, clip_sample=False, **kwargs
    )


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (dl.linear_schedule(T), "linear"),
        (dl.cosine_schedule(T), "squaredcos_cap_v2"),
    ],
)
def test_schedules_agree(ours, theirs):
    ref = _ddpm_scheduler(beta_schedule=theirs)
    torch.testing.assert_close(
        dl.interop.betas_zero_based(ours).float(),
        ref.betas,
        rtol=1e-5,
        atol=1e-7,
    )
    torch.testing.assert_close(
        ours.alpha_bar[1:].float(), ref.alphas_cumprod, rtol=1e-4, atol=1e-7
    )


def test_q_sample_is_add_noise(sched, gen):
    ref = _ddpm_scheduler()
    x0 = torch.randn(6, 1, 4, 4, generator=gen)
    eps = torch.randn(6, 1, 4, 4, generator=gen)
    t = torch.tensor([1, 2, 10, 500, 999, 1000])
    torch.testing.assert_close(
        dl.q_sample(sched, x0, t, eps),
        ref.add_noise(x0, eps, to_zero_based(t)),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "variance, variance_type",
    [("beta_tilde", "fixed_small"), ("beta", "fixed_large")],
)
@pytest.mark.parametrize("t", [1, 2, 37, 500, 1000])
def test_ddpm_step_agrees(sched, variance, variance_type, t):
    ref = _ddpm_scheduler(variance_type=variance_type)
    x_t = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(t))
    eps = torch.randn(
        3, 1, 4, 4, generator=torch.Generator().manual_seed(t + 1)
    )
    theirs = ref.step(
        eps, to_zero_based(t), x_t, generator=torch.Generator().manual_seed(7)
    ).prev_sample
    ours = dl.ddpm_step(
        sched,
        x_t,
        t,
        eps,
        variance=variance,
        generator=torch.Generator().manual_seed(7),
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spacing", ["trailing", "leading"])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim_sampling_loop_agrees(sched, spacing, eta):
    ref = diffusers.DDIMScheduler(
        num_train_timesteps=T,
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing=spacing,
    )
    ref.set_timesteps(50)
    steps = dl.ddim_timesteps(T, 50, spacing=spacing)
    assert steps == [from_zero_based(int(k)) for k in ref.timesteps]

    mix = dl.eight_gaussians()

    def model(x, t):
        return mix.optimal_eps(sched, x.double(), int(t[0])).float()

    x_T = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    noises = torch.randn(50, 32, 2, generator=torch.Generator().manual_seed(1))
    x_ref, x_ours = x_T, x_T
    for i, t in enumerate(steps):
        t_prev = steps[i + 1] if i + 1 < len(steps) else 0
        x_ref = ref.step(
            model(x_ref, torch.tensor([t])),
            to_zero_based(t),
            x_ref,
            eta=eta,
            variance_noise=noises[i],
        ).prev_sample
        x_ours = dl.ddim_step(
            sched,
            x_ours,
            t,
            t_prev,
            model(x_ours, torch.tensor([t])),
            eta=eta,
            noise=noises[i],
        )
    torch.testing.assert_close(x_ours, x_ref, rtol=1e-3, atol=1e-3)
