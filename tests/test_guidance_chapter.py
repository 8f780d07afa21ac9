"""The guidance chapter's helpers (ddpm_book.guidance) and its result file.

The spread is checked on features whose spread is known by construction;
the samples at several weights against ``dl.generate``; the sweep file
against its provenance and the rows the chapter reads.
"""

import json
import math
from pathlib import Path

import pytest
import torch

import ddpm_lib as dl
from ddpm_book import guidance as bg
from ddpm_lib.evaluation.provenance import verify_result

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "results" / "quality_guidance.json"
WEIGHTS = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0]


# -- the per-class spread -------------------------------------------------


def test_feature_spread_is_the_rms_distance_to_the_mean():
    # Two points at ±a on each of F axes: each lies √F · a from the mean;
    # with N − 1 = 1 in the denominator the square is 2 F a².
    a, f = 3.0, 4
    x = torch.stack([torch.full((f,), a), torch.full((f,), -a)])
    assert bg.feature_spread(x) == pytest.approx(math.sqrt(2 * f) * a)
    # It is unbiased in the square: N(0, σ² I) in F dimensions → F σ².
    g = torch.Generator().manual_seed(0)
    z = 2.0 * torch.randn(20_000, 8, generator=g, dtype=torch.float64)
    assert bg.feature_spread(z) ** 2 == pytest.approx(8 * 4.0, rel=0.02)
    # Shifting a group changes nothing; scaling it scales the spread.
    assert bg.feature_spread(z[:50] + 7) == pytest.approx(
        bg.feature_spread(z[:50])
    )
    assert bg.feature_spread(3 * z[:50]) == pytest.approx(
        3 * bg.feature_spread(z[:50])
    )
    with pytest.raises(ValueError, match="N >= 2"):
        bg.feature_spread(z[:1])
    with pytest.raises(ValueError, match="N >= 2"):
        bg.feature_spread(z[0])


def test_spread_by_class_groups_rows_by_label():
    feats = torch.tensor([[0.0], [2.0], [10.0], [10.0], [5.0], [9.0]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    spreads = bg.spread_by_class(feats, labels, num_classes=3)
    assert spreads == pytest.approx([math.sqrt(2), 0.0, math.sqrt(8)])
    with pytest.raises(ValueError, match="labels"):
        bg.spread_by_class(feats, labels[:5], num_classes=3)


@pytest.fixture(scope="module")
def classifier():
    from ddpm_lib.evaluation.classifier import load_classifier

    return load_classifier()


def test_class_spread_is_one_for_the_data_itself(classifier):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(40, 1, 28, 28, generator=g) * 2 - 1
    labels = torch.arange(40) % 10
    reference = bg.spread_by_class(
        bg.features(images, classifier), labels, num_classes=10
    )
    ratio = bg.class_spread(images, labels, reference, classifier=classifier)
    assert ratio == pytest.approx([1.0] * 10)
    # Copies of one image per class: no spread at all.
    copies = images[:10].repeat_interleave(4, 0)
    same = bg.class_spread(
        copies, torch.arange(10).repeat_interleave(4), reference,
        classifier=classifier,
    )  # fmt: skip
    assert max(same) < 1e-4


def test_features_are_the_classifiers_in_batches(classifier):
    x = torch.rand(7, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        whole = classifier.features(x)
    torch.testing.assert_close(bg.features(x, classifier, batch_size=3), whole)


# -- samples against w ---------------------------------------------------


@pytest.fixture(scope="module")
def pretrained():
    unet, sched, _ = dl.load_pretrained(torch.device("cpu"))
    return unet, sched


def test_guidance_samples_share_x_T_and_match_generate(pretrained):
    unet, sched = pretrained
    labels, samples = bg.guidance_samples(
        unet, sched, [0.0, 3.0], per_class=2, steps=2, num_classes=3
    )
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert set(samples) == {0.0, 3.0}
    g = torch.Generator().manual_seed(0)
    direct = dl.generate(
        unet, sched, 6, steps=2, labels=labels, guidance=3.0, generator=g
    )
    torch.testing.assert_close(samples[3.0], direct)
    assert samples[0.0].shape == (6, 1, 28, 28)
    assert not torch.equal(samples[0.0], samples[3.0])


def test_samples_grid_puts_a_class_in_each_column():
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    fig = bg.samples_grid(x, per_class=2, class_names=["a", "b", "c"])
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    # Column c, row r shows image c · per_class + r.
    shown = fig.axes[1].images[0].get_array()  # row 0, column 1
    expected = dl.image_grid(x[2:3].clamp(-1, 1)).squeeze(-1).numpy()
    assert (shown == expected).all()


# -- the cross-attention sketch --------------------------------------------


def test_cross_attention_starts_as_identity_and_reads_the_tokens():
    torch.manual_seed(0)
    block = bg.CrossAttention(16, 12, groups=4)
    x, tokens = torch.randn(2, 16, 7, 7), torch.randn(2, 5, 12)
    assert torch.equal(block(x, tokens), x)
    weights = block.attention(x, tokens)
    assert weights.shape == (2, 49, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 49))
    torch.nn.init.normal_(block.proj.weight)
    out = block(x, tokens)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert not torch.allclose(out, block(x, tokens.flip(1) + 1))


# -- the sweep's result file and its figure --------------------------------


def test_the_sweep_file_matches_its_inputs_and_the_rows_it_describes():
    verify_result(SWEEP, ROOT)  # the classifier and the checkpoint's hash
    result = json.loads(SWEEP.read_text())
    prov = result["provenance"]
    assert prov["command"].startswith("python bench/quality.py")
    assert "--rows sweep" in prov["command"]
    assert prov["checkpoint"] == "ddpm_lib/weights/fashion_small_cond.pt"
    assert prov["hardware"]["cpu_count"] >= 1
    assert result["seconds"] <= 30 * 60  # the sweep's budget
    rows = bg.sweep_rows(result)
    assert [r["guidance"] for r in rows] == WEIGHTS
    n = result["n"]
    assert n >= 100 and n % 10 == 0  # every class equally often
    for row in rows:
        assert row["conditional"] and row["sampler"] == "ddim"
        assert row["steps"] == rows[0]["steps"]
        assert 0 <= row["agreement"] <= 1 and row["fcd"] > 0
        assert len(row["spread"]) == 10
        assert row["spread_mean"] == pytest.approx(sum(row["spread"]) / 10)
    # What the chapter says the file shows.
    first, last = rows[0], rows[-1]
    assert last["agreement"] > first["agreement"]
    assert last["spread_mean"] < first["spread_mean"]
    assert last["fcd"] > first["fcd"]


def test_sweep_figure_draws_three_panels_by_w():
    rows = [
        {
            "sampler": "ddim", "steps": 4, "guidance": w, "conditional": True,
            "fcd": 10 + w, "agreement": 1 - 0.1 / (1 + w),
            "spread": [1 / (1 + w)] * 10, "spread_mean": 1 / (1 + w),
        }
        for w in (2.0, 0.0, 8.0)
    ] + [
        {"sampler": "ddim", "steps": 4, "guidance": 0.0,
         "conditional": False, "fcd": 30.0, "agreement": None}
    ]  # fmt: skip
    fig = bg.sweep_figure({"n": 20, "rows": rows})
    agree, fcd, spread = fig.axes
    assert list(agree.lines[0].get_xdata()) == [0.0, 2.0, 8.0]
    assert list(fcd.lines[0].get_ydata()) == [10.0, 12.0, 18.0]
    assert len(spread.lines) == 10 + 1 + 1  # classes, mean, the line at 1


def test_the_chapter_reads_the_library_and_has_its_exercise():
    nb = json.loads((ROOT / "book" / "guidance.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    for name in ("dl.guided_eps", "dl.eps_model", "dl.UNet.embed"):
        assert f"show_source({name})" in source
    assert "ex.check_guided_eps(guided_eps)" in source
    assert 'load_result("quality_guidance.json")' in source
