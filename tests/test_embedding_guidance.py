"""The timestep embedding and classifier-free guidance."""

import math

import pytest
import torch

import ddpm_lib as dl


def test_embedding_is_sin_then_cos_of_geometric_frequencies():
    t = torch.tensor([1, 10, 1000])
    dim = 8
    emb = dl.timestep_embedding(t, dim)
    assert emb.shape == (3, 8) and emb.dtype == torch.float32
    for b, step in enumerate(t.tolist()):
        for i in range(4):
            omega = 10_000 ** (-i / 3)  # half - 1 = 3
            assert emb[b, i].item() == pytest.approx(
                math.sin(step * omega), abs=1e-5
            )
            assert emb[b, 4 + i].item() == pytest.approx(
                math.cos(step * omega), abs=1e-5
            )


def test_embedding_of_odd_width_pads_a_zero_and_separates_steps():
    emb = dl.timestep_embedding(torch.arange(1, 1001), 29)
    assert emb.shape == (1000, 29) and emb[:, -1].abs().max() == 0
    # Different steps get different embeddings.
    assert torch.cdist(emb, emb).add(torch.eye(1000)).min() > 1e-3
    with pytest.raises(ValueError, match="shape"):
        dl.timestep_embedding(torch.zeros(2, 2), 8)
    with pytest.raises(ValueError, match="at least 4"):
        dl.timestep_embedding(torch.zeros(2), 2)


def test_guidance_is_ho_salimans_eq_6():
    cond, uncond = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(dl.guided_eps(cond, uncond, w=0.0), cond)
    torch.testing.assert_close(
        dl.guided_eps(cond, uncond, w=2.0), 3 * cond - 2 * uncond
    )
    # diffusers' form with scale s = 1 + w is the same number.
    s = 3.0
    torch.testing.assert_close(
        dl.guided_eps(cond, uncond, w=s - 1), uncond + s * (cond - uncond)
    )
    with pytest.raises(ValueError, match="w must be >= 0"):
        dl.guided_eps(cond, uncond, w=-1.0)
    with pytest.raises(ValueError, match="one shape"):
        dl.guided_eps(cond, uncond[:, :2], w=1.0)
