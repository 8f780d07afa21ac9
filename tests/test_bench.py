"""The benchmark scripts run (their figures are read by people, not here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_speed_benchmark_prints_a_table(tmp_path):
    script = str(ROOT / "bench" / "train_speed.py")
    out = subprocess.run(
        [
            sys.executable, script,
            "--paths", "plain,channels_last,fused_adam", "--batch-size", "8",
            "--device", "cpu", "--threads", "1",
            "--json", str(tmp_path / "speed.json"),
        ],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# tiny") and "images/s" in lines[1]
    assert "(1 threads" in lines[0]
    assert [line.split()[0] for line in lines[2:]] == [
        "plain", "channels_last", "fused_adam",
    ]  # fmt: skip
    result = json.loads((tmp_path / "speed.json").read_text())
    plain = result["images_per_s"]["plain"]
    assert abs(plain["median"] - float(lines[2].split()[1])) < 0.1
    assert result["provenance"]["command"].endswith("speed.json")
    bad = subprocess.run(
        [sys.executable, script, "--paths", "plain,warp"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "unknown paths ['warp']" in bad.stderr


def test_comparison_benchmark_passes_its_gate_and_prints_every_row(tmp_path):
    script = str(ROOT / "bench" / "compare.py")
    result = tmp_path / "compare.json"
    out = subprocess.run(
        [sys.executable, script, "--device", "cpu", "--json", str(result)],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "# correctness gate" in out.stdout
    lines = out.stdout.splitlines()
    split = next(i for i, line in enumerate(lines) if line.startswith("# sam"))
    rows = [line.split("  ")[0] for line in lines[4:split]]
    assert rows == [
        "ddpm_lib plain", "ddpm_lib fast", "diffusers shipped",
        "diffusers best", "lucidrains shipped", "lucidrains best",
        "same net: diffusers", "same net: lucidrains",
    ]  # fmt: skip
    samplers = [line.split("  ")[0] for line in lines[split + 2 :]]
    assert samplers == [
        "ddpm_lib generate", "ddpm_lib generate fast",
        "diffusers DDIMPipeline", "diffusers DDIM bf16",
        "diffusers DDPMPipeline", "diffusers hand loop", "lucidrains sample",
    ]  # fmt: skip
    # FLOP matching within ±5%, as the header line reports it.
    header = out.stdout.splitlines()[1]
    ratios = [float(w[:-1]) for w in header.split() if w.endswith("x")]
    assert all(abs(r - 1) <= 0.05 for r in ratios[0::2])
    figures = json.loads(result.read_text())
    assert set(figures["training_images_per_s"]) == set(rows)
    assert figures["provenance"]["command"].startswith("python bench/compare")


def test_quality_sweep_scores_rows_with_provenance(tmp_path):
    import ddpm_lib as dl
    from ddpm_lib.evaluation.provenance import sha256

    result = tmp_path / "quality.json"
    out = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "quality.py"),
            "--checkpoint", str(dl.pretrained_path()), "--device", "cpu",
            "--json", str(result),
        ],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(result.read_text())
    (row,) = report["rows"]  # fast mode: only DDIM-10 fits --max-steps
    assert (row["sampler"], row["steps"], row["conditional"]) == (
        "ddim", 10, True,
    )  # fmt: skip
    assert 0 <= row["agreement"] <= 1 and row["fcd"] > 0
    assert report["provenance"]["checkpoint_sha256"] == (
        sha256(dl.pretrained_path())
    )


def test_cpu_sampling_benchmark_times_each_guidance_weight(tmp_path):
    result = tmp_path / "cpu.json"
    out = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "cpu_sample.py"),
            "--threads", "1", "--json", str(result),
        ],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(result.read_text())
    assert (report["n"], report["steps"], report["threads"]) == (4, 2, 1)
    assert [row["guidance"] for row in report["rows"]] == [0.0, 2.0]
    assert all(row["median"] > 0 for row in report["rows"])
    assert report["provenance"]["checkpoint_sha256"]
    bad = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cpu_sample.py"), "--n", "0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def test_step_profile_prints_time_per_step_and_the_top_operators(tmp_path):
    trace = tmp_path / "trace.json"
    out = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "profile_step.py"),
            "--device", "cpu", "--path", "plain", "--rows", "5",
            "--trace", str(trace),
        ],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# tiny, batch 4, path plain, 2 profiled")
    assert float(lines[1].split()[-2]) > 0  # "wall time per step: X ms"
    # "operators dispatched per step: N (…)": forward, backward and Adam of
    # the tiny UNet are thousands of operators.
    assert 1000 < int(lines[2].split(": ")[1].split()[0]) < 10000
    assert "aten::" in out.stdout  # the operator table
    assert json.loads(trace.read_text())["traceEvents"]
    bad = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "profile_step.py"),
            "--device", "cpu", "--path", "graph",
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "needs a CUDA GPU" in bad.stderr


def test_browser_benchmark_times_the_page_sampler(tmp_path):
    from conftest import browser_runtime, chromium

    chromium()  # skips (fails on CI) without a browser
    browser_runtime()  # or without onnxruntime-web
    result = tmp_path / "browser.json"
    out = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "browser_speed.py"),
            "--json", str(result),
        ],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(result.read_text())
    assert [row["steps"] for row in report["rows"]] == [2]
    row = report["rows"][0]
    assert row["median_seconds"] > 0 and row["median_ms_per_step"] > 0
    assert row["max_abs_difference_to_ddpm_lib"] <= 1e-3
    assert "DDIM-2, 4 images" in out.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "browser_speed.py"),
         "--steps", "0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "at least 1" in bad.stderr
