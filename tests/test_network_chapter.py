"""The network chapter's helpers (ddpm_book.network) and its exercise.

The shape trace reproduces the seed's numbers for a batch of 128
Fashion-MNIST images through the ``seed`` preset; the parameter counts
of the ``cifar10_ddpm`` preset add up to the 35.7M that Ho et al.
report; the similarity of two time embeddings depends on the distance of
the steps only; ``time_added`` is the library's ResBlock line, and the
add-time check names each classic mistake.
"""

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

import ddpm_lib as dl
from ddpm_book.exercises.network import _ADD_TIME, check_add_time
from ddpm_book.network import (
    embedding_similarity,
    parameter_counts,
    shape_trace,
    time_added,
)
from ddpm_lib.networks.unet import ResBlock

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def seed_trace():
    torch.manual_seed(0)
    model = dl.UNet(dl.unet_config("seed")).eval()
    x = torch.randn(128, 1, 28, 28)
    t = torch.randint(1, 1001, (128,))
    return shape_trace(model, x, t)


def test_the_trace_has_the_seeds_shapes(seed_trace):
    trace = dict(seed_trace)
    assert trace["time_mlp"] == (128, 112)  # the seed's Tensor(128, 112)
    assert trace["down.0.0.time_proj"] == (128, 28)  # Tensor(128, 28)
    assert trace["down.0.0.conv1"] == (128, 28, 28, 28)  # the map it joins
    assert trace[""] == trace["conv_out"] == (128, 1, 28, 28)  # eps_pred


def test_the_trace_follows_the_resolutions_and_skips(seed_trace):
    trace = dict(seed_trace)
    assert trace["down.2.0"] == (128, 28, 14, 14)
    assert trace["down.3.0"] == (128, 56, 14, 14)
    assert trace["down.3.0.time_proj"] == (128, 56)
    assert trace["down.5.0"] == (128, 56, 7, 7)
    assert trace["mid.1"] == (128, 112, 7, 7)
    assert trace["up.0.0.norm1"] == (128, 224, 7, 7)  # 112 + skip 112
    assert trace["up.4.0.norm1"] == (128, 168, 14, 14)  # 112 + skip 56
    assert trace["up.10.0"] == (128, 28, 28, 28)


def test_the_trace_is_in_execution_order_and_leaves_no_hooks(seed_trace):
    names = [name for name, _ in seed_trace]
    assert names[-1] == ""  # the network finishes last
    assert names.index("time_mlp") < names.index("conv_in")
    assert names.index("down.0.0.conv1") < names.index("down.0.0")
    model = dl.UNet(dl.unet_config("tiny"))
    shape_trace(model, torch.randn(2, 1, 28, 28), torch.tensor([1, 2]))
    assert all(not m._forward_hooks for m in model.modules())


def test_cifar10_parts_add_up_to_the_papers_35_7m():
    with torch.device("meta"):
        model = dl.UNet(dl.unet_config("cifar10_ddpm"))
    counts = parameter_counts(model)
    assert list(counts) == [
        "time embedding MLP",
        "input conv",
        "down path",
        "middle",
        "up path",
        "output (norm + conv)",
    ]
    assert sum(counts.values()) == model.num_parameters()
    assert model.num_parameters() / 1e6 == pytest.approx(35.7, abs=0.05)
    assert counts["up path"] > counts["down path"] > counts["middle"]


def test_a_conditional_net_counts_its_label_embedding():
    model = dl.UNet(dl.unet_config("tiny_cond"))
    counts = parameter_counts(model)
    assert counts["label embedding"] == 11 * model.config.time_dim
    assert sum(counts.values()) == model.num_parameters()


def test_embedding_similarity_depends_on_the_distance_only():
    t = torch.arange(1, 901)
    for offset in (1, 10, 100):
        sim = embedding_similarity(t, t + offset, 128)
        assert sim.max() - sim.min() < 1e-4
    same = embedding_similarity(t, t, 128)
    torch.testing.assert_close(same, torch.ones_like(same))


def test_nearby_steps_are_similar_and_distant_steps_not():
    for dim in (28, 128):
        one = torch.tensor([1])
        near = embedding_similarity(one, one + 1, dim).item()
        far = embedding_similarity(one + 0, torch.tensor([1000]), dim).item()
        assert near > 0.95 and far < 0.2
        # Averaged over distances, the similarity falls with distance.
        sims = embedding_similarity(
            torch.ones(1000, dtype=torch.long), torch.arange(1, 1001), dim
        )
        assert (sims[:4].diff() < 0).all()
        assert sims[:10].mean() > sims[10:100].mean() > sims[100:].mean()


def test_time_added_is_the_resblock_line():
    g = torch.Generator().manual_seed(0)
    block = ResBlock(6, 6, 10, 0.0, 2).double().eval()
    x = torch.randn(3, 6, 5, 5, generator=g, dtype=torch.float64)
    temb = torch.randn(3, 10, generator=g, dtype=torch.float64)
    seen = []
    block.norm2.register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    block(x, temb)
    h = block.conv1(F.silu(block.norm1(x)))
    torch.testing.assert_close(time_added(h, temb, block.time_proj), seen[0])
    expected = h + block.time_proj(F.silu(temb))[:, :, None, None]
    torch.testing.assert_close(seen[0], expected)


def my_add_time(h, temb, proj):
    return h + proj(F.silu(temb))[:, :, None, None]


def test_the_check_passes_a_correct_answer_and_the_library():
    for fn in (my_add_time, time_added):
        feedback = check_add_time(fn)
        assert feedback.passed and "Note" not in feedback.message, feedback


@pytest.mark.parametrize(
    "fn, phrase",
    [
        (lambda h, e, p: h + p(F.silu(e))[:, None, None, :], "last axis"),
        (lambda h, e, p: h + p(e)[:, :, None, None], "projects temb itself"),
        (
            lambda h, e, p: h + F.silu(p(F.silu(e)))[:, :, None, None],
            "SiLU after the projection",
        ),
        (lambda h, e, p: h * p(F.silu(e))[:, :, None, None], "multiplies"),
    ],
    ids=["width", "no-silu", "silu-after", "multiplies"],
)
def test_the_check_names_each_mistake(fn, phrase):
    feedback = check_add_time(fn)
    assert not feedback.passed and phrase in feedback.message, feedback


def test_every_mistake_of_the_exercise_is_tested():
    assert len(_ADD_TIME.mistakes) == 4


def test_a_wrong_scale_gets_the_equation():
    feedback = check_add_time(
        lambda h, e, p: h + 2 * p(F.silu(e))[:, :, None, None]
    )
    assert not feedback.passed and "ResBlock.forward" in feedback.message


def test_the_cases_make_the_wrong_axis_run():
    for case in _ADD_TIME.cases():
        h = case.args[0]
        assert h.shape[1] == h.shape[3] != h.shape[2]


def test_unwritten_is_not_written_yet():
    def add_time(h, temb, proj):
        raise NotImplementedError()

    feedback = check_add_time(add_time)
    assert feedback.unfinished and "not written yet" in feedback.message


def test_proj_parameters_are_untouched_by_the_check():
    proj = nn.Linear(4, 4)
    before = proj.weight.clone()
    time_added(torch.randn(2, 4, 3, 4), torch.randn(2, 4), proj)
    torch.testing.assert_close(proj.weight, before)
