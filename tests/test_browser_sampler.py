"""The page's sampler (ddpm_book/browser_sampler.js) against ddpm_lib.

In headless Chromium, the exported model runs in onnxruntime-web (the
files the site serves), and the JavaScript samplers draw from noise
shipped from Python; ddpm_lib's steps on the same noise, with the same
float16-rounded weights, must give the same images.
"""

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
from conftest import browser_runtime, require

import ddpm_lib as dl
from ddpm_book import browser as br
from ddpm_lib.diffusion.guidance import BOOK_GUIDANCE
from ddpm_lib.evaluation.provenance import verify_result
from ddpm_lib.io.onnx import float16_weights

TOLERANCE = 1e-3  # pixel scale [-1, 1]


@pytest.fixture(scope="module")
def assets(pretrained, tmp_path_factory):
    require("onnx"), require("onnxscript")
    browser_runtime()
    folder = tmp_path_factory.mktemp("site")
    written = br.write_assets(folder, *pretrained, source=dl.pretrained_path())
    br.write_harness(folder)
    return folder, written


@pytest.fixture(scope="module")
def page(browser, assets):
    with br.serve(assets[0]) as url:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type == "error" else None,
        )
        page.goto(url + br.HARNESS_PAGE)
        page.evaluate("window.ready")
        yield page
        page.close()
        assert not errors


def test_model_json_describes_the_shipped_model(pretrained, assets):
    unet, sched, config = pretrained
    folder, written = assets
    meta = json.loads((folder / br.META_FILE).read_text())
    assert meta["T"] == sched.T
    assert meta["betas"] == sched.beta[1:].tolist()
    assert meta["null_label"] == unet.config.null_label == 10
    assert meta["class_names"][1] == "Trouser"
    source = dl.pretrained_path()
    assert meta["source"] == {
        "file": source.name,
        "sha256": br._sha256(source),
    }
    assert meta["model_sha256"] == br._sha256(written[br.MODEL_FILE])
    assert meta["runtime"] == f"onnxruntime-web {br.runtime_version()}"
    for name in br.RUNTIME_FILES:
        assert (folder / name).stat().st_size > 0


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 - 1])
def test_page_noise_is_the_python_noise(page, seed):
    js = torch.tensor(page.evaluate(f"window.drawNoise({seed}, 2000)"))
    py = br.seeded_noise(seed)(2000)
    assert torch.allclose(js, py, atol=1e-6, rtol=0)
    # And it is standard normal noise.
    assert abs(py.mean().item()) < 0.1 and abs(py.std().item() - 1) < 0.1


def test_seeded_noise_refuses_bad_seeds():
    for seed in (-1, 2**32, 1.5):
        with pytest.raises(ValueError, match="seed"):
            br.seeded_noise(seed)


def test_page_ddim_timesteps_are_ddpm_libs(page):
    for steps in (1, 3, 7, 20, 30, 80, 300, 999, 1000):
        js = page.evaluate(f"DDPMSampler.ddimTimesteps(1000, {steps})")
        assert js == dl.ddim_timesteps(1000, steps), steps


# The cases: DDIM with and without η, guidance and clipping; DDPM with both
# variances, on a 40-step schedule (the same code as for T = 1000, at a
# cost a test can pay).
CASES = {
    "ddim": dict(sampler="ddim", steps=10, eta=0.0, guidance=0.0, clip=True),
    "ddim-eta-guided": dict(
        sampler="ddim", steps=10, eta=0.5, guidance=2.0, clip=True
    ),
    "ddim-unclipped-guided": dict(
        sampler="ddim", steps=7, eta=0.0, guidance=4.0, clip=False
    ),
    "ddpm": dict(sampler="ddpm", variance="beta", guidance=0.0, clip=False),
    "ddpm-guided": dict(
        sampler="ddpm", variance="beta_tilde", guidance=2.0, clip=True
    ),
}
SHORT = dl.linear_schedule(40, beta_T=0.3)


def shipped(noise):
    """``noise(count)`` handing out the tensor's values in order."""
    used = 0

    def take(count):
        nonlocal used
        out = noise[used : used + count]
        assert out.numel() == count, "the test's noise ran out"
        used += count
        return out

    return take


@pytest.mark.parametrize("name", list(CASES))
def test_page_sampler_matches_ddpm_lib(page, pretrained, name):
    unet, sched, _ = pretrained
    case = {"eta": 0.0, "steps": 1, "variance": "beta", **CASES[name]}
    if case["sampler"] == "ddpm":
        sched = SHORT
    labels = [1, 7]
    noise = torch.randn(200_000, generator=torch.Generator().manual_seed(3))
    run = page.evaluate(
        "c => runCase(c)",
        {
            **case,
            "labels": labels,
            "noise": br.encode_floats(noise),
            "betas": sched.beta[1:].tolist(),
        },
    )
    steps = list(
        br.page_trajectory(
            float16_weights(unet),
            sched,
            shipped(noise),
            labels=torch.tensor(labels),
            guidance=case["guidance"],
            sampler=case["sampler"],
            steps=case["steps"],
            eta=case["eta"],
            variance=case["variance"],
            clip_x0=case["clip"],
        )
    )
    expected = steps[-1].x_t
    got = torch.tensor(run["x"]).reshape(expected.shape)
    assert len(run["ms"]) == len(steps) - 1  # one record per network call
    assert torch.isfinite(expected).all() and expected.std() > 0.1
    assert (got - expected).abs().max().item() <= TOLERANCE


def test_page_trajectory_is_ddpm_libs_sampler(pretrained):
    """The Python reference itself: with η = 0 it is dl.ddim_sample from the
    same x_T, and its DDPM is dl.ddpm_sample with the same z."""
    unet, sched, _ = pretrained
    labels = torch.tensor([0, 5])
    noise = torch.randn(20_000, generator=torch.Generator().manual_seed(4))
    x_T = noise[: 2 * 784].reshape(2, 1, 28, 28)  # noqa: N806
    model = dl.eps_model(unet, sched, labels=labels, guidance=1.0)
    ours = list(
        br.page_trajectory(
            unet, sched, shipped(noise), labels=labels, guidance=1.0, steps=5
        )
    )
    taus = dl.ddim_timesteps(sched.T, 5)
    library = list(dl.ddim_sample(model, sched, x_T, taus, clip_x0=True))
    assert [s.t for s in ours] == [s.t for s in library]
    for a, b in zip(ours, library, strict=True):
        assert torch.allclose(a.x_t, b.x_t, atol=1e-6)
        assert torch.allclose(a.x0_hat, b.x0_hat, atol=1e-6)
    # DDPM on the short schedule, noise drawn as ddpm_sample draws it.
    model = dl.eps_model(unet, SHORT, labels=labels)
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn(2, 1, 28, 28, generator=g)  # noqa: N806
    state = g.get_state()
    zs = torch.randn(SHORT.T, 2, 1, 28, 28, generator=g)
    g.set_state(state)
    library = dl.final_sample(dl.ddpm_sample(model, SHORT, x_T, generator=g))
    flat = torch.cat([x_T.flatten(), zs[: SHORT.T - 1].flatten()])
    ours = list(
        br.page_trajectory(
            unet,
            SHORT,
            shipped(flat),
            labels=labels,
            sampler="ddpm",
            clip_x0=False,
        )
    )[-1].x_t
    assert torch.allclose(ours, library, atol=1e-5)


def test_guidance_changes_the_page_sample(page):
    """Sanity of the cases above: the knobs the page offers matter."""
    base = {"labels": [3], "sampler": "ddim", "steps": 5, "eta": 0.0,
            "clip": True}  # fmt: skip

    def run(**changes):
        return page.evaluate("c => runCase(c)", {**base, **changes})

    plain = run(guidance=0.0, seed=9)
    guided = run(guidance=4.0, seed=9)
    other = run(guidance=0.0, seed=10)
    diff = [
        max(abs(a - b) for a, b in zip(p["x"], q["x"], strict=True))
        for p, q in ((plain, guided), (plain, other))
    ]
    assert all(d > 0.1 for d in diff)
    assert all(math.isfinite(v) for v in plain["x"])


def test_shipped_speed_figures_describe_these_files(assets):
    """results/bench/browser_sampler.json (quoted by the sampling chapter
    and the README) was measured on the shipped model and runtime."""
    root = Path(__file__).resolve().parents[1]
    path = root / "results" / "bench" / "browser_sampler.json"
    verify_result(path, root)  # the shipped weights, unchanged
    report = json.loads(path.read_text())
    assert report["provenance"]["checkpoint"] == str(
        dl.pretrained_path().relative_to(root)
    )
    assert report["runtime"].startswith(
        f"onnxruntime-web {br.runtime_version()},"
    )
    assert (report["n"], report["guidance"]) == (4, BOOK_GUIDANCE)
    assert report["network_evaluations_per_step"] == 2 * report["n"]
    assert [r["steps"] for r in report["rows"]] == [20, 50]
    for row in report["rows"]:
        assert row["median_seconds"] == statistics.median(row["seconds"])
        assert row["max_abs_difference_to_ddpm_lib"] <= TOLERANCE
    folder, written = assets
    for name, size in report["files"].items():
        now = written[name].stat().st_size
        if name in br.RUNTIME_FILES:  # the installed runtime, byte for byte
            assert size["bytes"] == now, name
        else:  # the export of today's code: within 1 %
            assert abs(size["bytes"] - now) <= 0.01 * now, name
    assert report["download"]["bytes"] == sum(
        f["bytes"] for f in report["files"].values()
    )
    assert report["download"]["gzip6_bytes"] <= 8e6  # the aim
