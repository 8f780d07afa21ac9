"""Shared fixtures: schedules, seeded generators and the real dataset."""

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ddpm_lib as dl


@pytest.fixture
def sched():
    """The paper's schedule: linear 1e-4 → 0.02 over T = 1000 steps."""
    return dl.linear_schedule()


@pytest.fixture
def image():
    """One small image x_0 in [-1, 1] and its noise, (1, 1, 8, 8), float64."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(1, 1, 8, 8, generator=gen, dtype=torch.float64) * 2 - 1
    eps = torch.randn(1, 1, 8, 8, generator=gen, dtype=torch.float64)
    return x0, eps


@pytest.fixture
def one_thread():
    """Many small tensor operations: on a shared CPU one thread is far
    faster than many, with the same results."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def require(module: str):
    """Import ``module``; skip without it, except on CI, where it fails."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


def chromium():
    """Playwright's sync API and the system Chromium; skip (fail on CI)
    without them."""
    sync_api = require("playwright.sync_api")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing (scripts/setup.sh installs it)")
        pytest.skip("no system Chromium")
    return sync_api, path


@pytest.fixture(scope="module")
def pretrained():
    """The shipped model (eval mode), its schedule and its run config."""
    unet, sched, config = dl.load_pretrained()
    return unet.eval(), sched, config


def browser_runtime():
    """onnxruntime-web's files (scripts/setup.sh installs them with npm);
    skip (fail on CI) without them."""
    from ddpm_book.browser import runtime_folder

    try:
        return runtime_folder()
    except FileNotFoundError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a test module (see :func:`chromium`)."""
    sync_api, path = chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=path, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


def check_site_module():
    """scripts/check_site.py, loaded as a module (it is a script)."""
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "check_site", root / "scripts" / "check_site.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fashion_mnist_test():
    """The real Fashion-MNIST test split; CI never skips for lack of it."""
    try:
        return dl.load_images("fashion_mnist", split="test", download=False)
    except dl.DataNotFoundError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Fashion-MNIST is not installed: {error}")


def all_schedules(T=1000):
    return {
        "linear": dl.linear_schedule(T),
        "cosine": dl.cosine_schedule(T),
        "quadratic": dl.quadratic_schedule(T),
        "sigmoid": dl.sigmoid_schedule(T),
    }


@pytest.fixture(scope="session")
def course_script():
    """scripts/course.py as a module (it imports student_edition from
    its own folder)."""
    scripts = str(Path(__file__).resolve().parents[1] / "scripts")
    sys.path.insert(0, scripts)
    try:
        spec = importlib.util.spec_from_file_location(
            "course", f"{scripts}/course.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(scripts)
    return module


@pytest.fixture(scope="session")
def grading_tool():
    """``run(tool, folder, *args)``: ``python -m tool args`` in ``folder``,
    as a grader runs it, headless (explorers as on the site: no live
    widgets in a kernel without a browser) and at the test sizes; the
    kernels it starts inherit this environment. Returns its stdout."""
    from ddpm_book.modes import BOOK_ENV, FAST_ENV

    def run(tool: str, folder: Path, *args: str) -> str:
        env = {**os.environ, BOOK_ENV: "1", FAST_ENV: "1"}
        out = subprocess.run(
            [sys.executable, "-m", tool, *args],
            cwd=folder,
            capture_output=True,
            text=True,
            env=env,
            timeout=1200,
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        return out.stdout

    return run
