"""The evaluation chapter's likelihood and protocol: commands, files, math."""

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import ddpm_lib as dl
from ddpm_book import evaluation as ev
from ddpm_lib.evaluation.provenance import sha256, verify_result
from ddpm_lib.networks.unet import unet_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import likelihood  # noqa: E402  (bench/likelihood.py)


def test_the_decoder_gives_the_levels_a_distribution():
    std = 0.01
    for mean in (-1.0, -0.37, 0.0, 1.0, 1.5, -3.0):
        masses = ev.bin_masses(mean, std)
        assert masses.shape == (256,)
        assert (masses >= 0).all()
        assert masses.sum().item() == pytest.approx(1, abs=1e-9)
    # An inner level with the mean on it: erf(half-bin / (√2 σ)).
    level = ev.PIXEL_LEVELS[100].item()
    want = math.erf(1 / 255 / (math.sqrt(2) * std))
    assert ev.bin_masses(level, std)[100].item() == pytest.approx(want)
    # The edge bin is open: Φ(half-bin / σ) for the mean on −1.
    want_edge = 0.5 * (1 + math.erf(1 / 255 / (math.sqrt(2) * std)))
    assert ev.bin_masses(-1.0, std)[0].item() == pytest.approx(want_edge)


def test_decoder_floor_is_the_bin_mass_of_a_perfect_mean(sched):
    # Pixels 0 (edge bin) and 128 (inner): the floor is their average
    # −log₂ p with the decoder's standard deviation √β̃_2.
    x0 = torch.tensor([[-1.0, -1 + 128 * 2 / 255]], dtype=torch.float64)
    std = dl.reverse_variance(sched, torch.tensor([2]), "beta_tilde").sqrt()
    z = 1 / 255 / std.item()
    edge = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    inner = math.erf(z / math.sqrt(2))
    want = -(math.log2(edge) + math.log2(inner)) / 2
    got = ev.decoder_floor_bpd(sched, x0)
    assert got.shape == (1,)
    assert got.item() == pytest.approx(want, rel=1e-9)


def test_share_of_bound_counts_the_first_steps():
    assert ev.share_of_bound([3.0, 1.0, 0.5, 0.5], 1) == pytest.approx(0.6)
    assert ev.share_of_bound([3.0, 1.0, 0.5, 0.5], 4) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A tiny trained model with T = 20: the bound in a test's time."""
    root = tmp_path_factory.mktemp("bound")
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (16, 1, 28, 28), generator=g)
    data = dl.DeviceDataset(dl.pixels_to_model(pixels.to(torch.uint8)))
    config = replace(
        dl.TrainConfig(model=unet_config("tiny", dropout=0.0)),
        T=20,
        batch_size=8,
        steps=2,
        warmup_steps=0,
        log_every=1,
    )
    dl.Trainer(config, data, out_dir=root / "run").train()
    return root / "run" / "checkpoint.pt"


def test_likelihood_command_is_the_librarys_bound(small_checkpoint, tmp_path):
    out = tmp_path / "likelihood.json"
    code = likelihood.main([
        "--checkpoint", str(small_checkpoint), "--n", "3",
        "--batch-size", "2", "--device", "cpu", "--json", str(out),
    ])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert report["n"] == 3 and report["T"] == 20
    model, sched, _ = dl.load_model(small_checkpoint, device="cpu")
    x0 = dl.pixels_to_model(
        dl.load_images("fashion_mnist", split="test").pixels[:2]
    )
    for variance, row in report["variances"].items():
        assert len(row["per_image"]) == 3 and len(row["term_means"]) == 20
        assert row["bpd"] == pytest.approx(sum(row["per_image"]) / 3)
        assert row["bpd"] == pytest.approx(
            row["prior"] + sum(row["term_means"]), rel=1e-12
        )
        assert row["decoder"] == row["term_means"][0]
        # The first batch draws the noise vlb_bpd draws with the same seed.
        bound = dl.vlb_bpd(
            sched,
            lambda x_t, t: model(x_t, t),
            x0,
            variance=variance,
            generator=torch.Generator().manual_seed(0),
        )
        torch.testing.assert_close(
            torch.tensor(row["per_image"][:2], dtype=torch.float64),
            bound.total.double(),
            rtol=1e-4,
            atol=1e-4,
        )
    assert report["provenance"]["checkpoint_sha256"] == sha256(
        small_checkpoint
    )


def test_likelihood_command_refuses_bad_arguments(small_checkpoint, capsys):
    for args in (["--n", "0"], ["--json", "/no/such/folder/x.json"]):
        with pytest.raises(SystemExit, match="error: "):
            likelihood.main(["--checkpoint", str(small_checkpoint), *args])
    with pytest.raises(SystemExit, match="error: no checkpoint at"):
        likelihood.main(["--checkpoint", str(small_checkpoint) + ".missing"])


def test_protocol_command_changes_one_thing_at_a_time(tmp_path):
    out = tmp_path / "protocol.json"
    run = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "protocol.py"),
            "--checkpoint", str(dl.pretrained_path()), "--device", "cpu",
            "--json", str(out),
        ],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    check_protocol(json.loads(out.read_text()))


def check_protocol(report: dict) -> None:
    """What every protocol file must satisfy, by construction."""
    n = report["n"]
    counts = [row["n"] for row in report["sample_count"]]
    assert counts == sorted(counts) and counts[-1] == n
    floors = [row["n"] for row in report["floor_count"]]
    assert floors == sorted(floors) and n in floors
    # Each row scores as many disjoint sets of n as fit, ten at most.
    for row in report["sample_count"]:
        assert row["repeats"] == max(1, min(10, n // row["n"]))
        assert (row["fcd_std"] is None) == (row["repeats"] == 1)
    # The float row and the test-reference row are the same measurement,
    # and so is the sample-count row at N.
    test_row = report["reference"]["test"]
    assert report["pixels"]["float"] == test_row
    assert report["sample_count"][-1]["fcd"] == pytest.approx(test_row["fcd"])
    # Rounding to 8 bits moves no pixel by more than half a level.
    assert report["pixels"]["largest_change"] <= 1 / 255 + 1e-6


def test_protocol_file_matches_what_it_describes():
    path = ROOT / "results" / "quality_protocol.json"
    verify_result(path, ROOT)
    report = json.loads(path.read_text())
    check_protocol(report)
    # The floor at 10,000 is the book's reference floor, recomputed.
    reference = json.loads((ROOT / "results" / "fashion_reference.json")
                           .read_text())  # fmt: skip
    (at_ref,) = [
        row for row in report["floor_count"] if row["n"] == reference["n"]
    ]
    assert at_ref["fcd"] == pytest.approx(reference["floor"]["fcd"], rel=1e-6)
    # FCD's bias: fewer images, a larger floor.
    floor = report["floor_count"]
    assert floor[0]["fcd"] > floor[-1]["fcd"]


def test_likelihood_file_matches_what_it_describes():
    path = ROOT / "results" / "likelihood.json"
    verify_result(path, ROOT)
    report = json.loads(path.read_text())
    _, sched, _ = dl.load_model(ROOT / report["provenance"]["checkpoint"])
    assert report["T"] == sched.T
    test = dl.pixels_to_model(
        dl.load_images("fashion_mnist", split="test").pixels[: report["n"]]
    )
    prior = dl.prior_bpd(sched, test.double()).mean().item()
    for row in report["variances"].values():
        assert len(row["per_image"]) == report["n"]
        assert len(row["term_means"]) == sched.T
        assert row["prior"] == pytest.approx(prior, rel=1e-9)
        assert row["bpd"] == pytest.approx(
            row["prior"] + sum(row["term_means"]), rel=1e-9
        )
        # Above the decoder's floor, below knowing nothing (8 bits).
        floor = ev.decoder_floor_bpd(sched, test).mean().item()
        assert floor < row["decoder"] < row["bpd"] < 8


def test_machine_names_the_gpu_or_the_cpu():
    gpu = {"provenance": {"hardware": {"gpu": "NVIDIA H200", "cpu_count": 16}}}
    cpu = {"provenance": {"hardware": {"cpu_count": 2, "device": "cpu"}}}
    assert ev.machine(gpu) == "NVIDIA H200"
    assert ev.machine(cpu) == "2-core CPU"


def test_mean_std_reads_as_a_measurement():
    assert ev.mean_std(12.345, 0.5) == "12.35 ± 0.50"
    assert ev.mean_std(3.0, None) == "3.00"
