"""The benchmark scripts run (their figures are read by people, not here)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_speed_benchmark_prints_a_table():
    out = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "train_speed.py"),
            "--paths", "plain,channels_last,fused_adam", "--batch-size", "8",
            "--device", "cpu",
        ],
        capture_output=True, text=True,
        env={**os.environ, "DDPM_FAST": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# tiny") and "images/s" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == [
        "plain", "channels_last", "fused_adam",
    ]  # fmt: skip
