"""The project around the library: imports, links, notebooks, helpers."""

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from conftest import require

import ddpm_lib as dl
from ddpm_book.modes import by_mode, fast_mode
from ddpm_lib import project

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))

BLOCKER = """
import sys
import zipfile
import importlib.abc

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"matplotlib", "ipywidgets", "tqdm"}:
            raise ImportError(f"blocked {name}")

sys.meta_path.insert(0, Block())
import ddpm_lib
top = {"matplotlib", "ipywidgets", "tqdm"}
print(sorted(m for m in sys.modules if m.split(".")[0] in top))
"""


def test_import_ddpm_lib_needs_no_plotting_widgets_or_progress_bars():
    # With matplotlib, ipywidgets and tqdm made unimportable, the library
    # still imports (torch itself tolerates a missing tqdm).
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_import_ddpm_lib_adds_none_of_them_beyond_torch():
    code = (
        "import sys, torch; before = set(sys.modules); import ddpm_lib; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] in {'matplotlib', 'ipywidgets', 'tqdm'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_public_api_is_complete():
    for name in dl.__all__:
        assert hasattr(dl, name), name
    for name in (
        "linear_schedule",
        "cosine_schedule",
        "quadratic_schedule",
        "sigmoid_schedule",
        "Schedule",
        "q_sample",
        "q_posterior",
        "x0_from_eps",
        "mu_theta",
        "ddpm_step",
        "ddim_step",
        "ddpm_sample",
        "ddim_sample",
        "loss_simple",
        "normal_kl",
        "discretized_gaussian_log_likelihood",
        "prior_bpd",
        "vlb_bpd",
    ):
        assert name in dl.__all__, name


def test_every_link_to_the_repository_derives_from_one_place():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == project.REPOSITORY_URL
    assert config["repository"]["branch"] == project.release_tag()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == project.REPOSITORY_URL
    assert citation["version"] == dl.__version__
    tomllib = require("tomllib")  # Python >= 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(meta["urls"].values()) == {project.REPOSITORY_URL}
    assert project.REPOSITORY_URL in (ROOT / "README.md").read_text()


def test_release_links():
    assert project.release_tag("1.2.3") == "v1.2.3"
    assert project.pip_spec("1.2.3") == (
        f"git+{project.REPOSITORY_URL}.git@v1.2.3"
    )
    url = project.colab_url("book/glance.ipynb", "1.2.3")
    assert url.startswith("https://colab.research.google.com/github/")
    assert url.endswith("/blob/v1.2.3/book/glance.ipynb")
    with pytest.raises(ValueError, match="ipynb"):
        project.colab_url("book/intro.md")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_install_this_release_on_colab_and_are_stripped(path):
    nb = json.loads(path.read_text())
    setup = [
        c
        for c in nb["cells"]
        if "colab-setup" in c["metadata"].get("tags", [])
    ]
    assert len(setup) == 1, "one cell tagged colab-setup"
    source = "".join(setup[0]["source"])
    assert source == project.setup_cell(), (
        f"{path.name}: the colab-setup cell is not project.setup_cell()"
    )
    # scripts/release.py reads the pinned tag from this line.
    assert f'SPEC = "{project.pip_spec()}"' in source
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        kept = cell["metadata"].get("keep_output", False)
        checked = "nbval-check-output" in cell["metadata"].get("tags", [])
        assert kept == checked, "keep the outputs of exactly the checked cells"
        if not kept:
            assert not cell["outputs"], (
                f"{path.name}: outputs committed; run nbstripout --keep-count"
            )
        else:
            assert cell["execution_count"] is not None, "nbval needs the count"
    # Saved widget state makes the page load the widget manager from a CDN
    # (blocked offline); nbstripout drops it.
    assert "widgets" not in nb["metadata"], (
        f"{path.name}: widget state saved; run nbstripout"
    )


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert str(path.relative_to(ROOT).with_suffix("")) in toc


def test_fast_mode_and_devices(monkeypatch):
    monkeypatch.delenv("DDPM_FAST", raising=False)
    assert not fast_mode() and by_mode(10, 2) == 10
    monkeypatch.setenv("DDPM_FAST", "1")
    assert fast_mode() and by_mode(10, 2) == 2
    monkeypatch.setenv("DDPM_FAST", "maybe")
    with pytest.raises(ValueError, match="DDPM_FAST"):
        fast_mode()
    assert isinstance(dl.default_device(), torch.device)
    from ddpm_lib.device import describe_device

    threads = torch.get_num_threads()
    cpu = describe_device(torch.device("cpu"))
    assert cpu == f"cpu, {threads} threads"


def test_plotting_helpers():
    import matplotlib

    matplotlib.use("Agg")
    from ddpm_book.plotting import image_grid, show_images, show_points

    x = torch.linspace(-1, 1, 5 * 3 * 4 * 2).reshape(5, 3, 4, 2)
    grid = image_grid(x, ncols=2)
    assert grid.shape == (3 * 4, 2 * 2, 3) and grid.dtype == torch.uint8
    assert grid[:4, :2].permute(2, 0, 1).equal(dl.model_to_pixels(x[0]))
    assert grid[8:, 2:].eq(0).all()  # padding after the 5th image
    with pytest.raises(ValueError, match="B, C, H, W"):
        image_grid(torch.zeros(2, 3))
    fig = show_images(x[:, :1], titles=list("abcde"))
    assert len(fig.axes) == 5
    fig = show_images(x[:4, :1], ncols=2, row_labels=["top", "bottom"])
    labels = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert labels == [["top"], [], ["bottom"], []]
    with pytest.raises(ValueError, match="names 1 rows"):
        show_images(x[:4, :1], ncols=2, row_labels=["top"])
    fig = show_points(torch.zeros(3, 2), torch.ones(3, 2), labels=["a", "b"])
    assert len(fig.axes) == 2


def test_code_is_formatted_and_linted():
    # House style: ruff format + ruff check, lines <= 79 characters.
    require("ruff")
    dirs = ("ddpm_lib", "tests", "scripts", "book", "bench")
    paths = [str(ROOT / d) for d in dirs]
    for args in (["format", "--check"], ["check"]):
        out = subprocess.run(
            [sys.executable, "-m", "ruff", *args, *paths],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_package_builds_one_wheel_with_the_library_and_the_book_aids(
    tmp_path,
):
    # What Colab's `pip install --no-deps git+<repo>@<tag>` builds.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("ddpm_lib-*.whl")
    assert wheel.name.startswith(f"ddpm_lib-{dl.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ddpm_lib/diffusion/schedules.py" in names
    assert (
        "ddpm_book/plotting.py" in names and "ddpm_book/explorer.js" in names
    )
    assert "ddpm_lib/plotting.py" not in names  # the library draws nothing
    assert "ddpm_lib/weights/fashion_classifier.pt" in names
    assert "ddpm_lib/weights/fashion_small_cond.pt" in names  # pretrained
    assert not [n for n in names if n.startswith(("tests/", "book/"))]


def test_show_source_displays_the_function_that_ran():
    from ddpm_book.notebook import show_source

    code = show_source(dl.q_sample)
    assert "def q_sample(" in code.data and "Eq. (4)" in code.data


def test_result_files_are_found_from_any_folder_of_the_checkout(
    monkeypatch,
):
    from ddpm_book.notebook import load_result

    monkeypatch.chdir(ROOT / "book")
    reference = load_result("fashion_reference.json")
    assert reference["n"] == 10_000 and "provenance" in reference
    monkeypatch.chdir("/")
    monkeypatch.setattr(dl.project, "REPOSITORY_URL", "https://invalid.test/x")
    with pytest.raises(FileNotFoundError, match="neither in a checkout here"):
        load_result("fashion_reference.json")


BOOK_ONLY = {"ddpm_book", "matplotlib", "ipywidgets", "tqdm", "IPython"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a source file imports."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_library_never_imports_the_book_or_a_plotting_library():
    # One-way dependencies: ddpm_book imports ddpm_lib, never the reverse,
    # and no module of the library (commands included) needs matplotlib,
    # ipywidgets, tqdm or IPython — not even inside a function.
    found = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & BOOK_ONLY)
        for path in sorted((ROOT / "ddpm_lib").rglob("*.py"))
    }
    assert {k: v for k, v in found.items() if v} == {}
    assert "ddpm_lib" in imported_modules(ROOT / "ddpm_book" / "forward.py")


def test_the_scan_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from ddpm_book import modes\n")
    assert imported_modules(source) == {"ddpm_book"}


def test_every_library_module_imports_without_the_book_aids():
    # Each module (commands too) imports with matplotlib, ipywidgets, tqdm
    # and ddpm_book made unimportable.
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in sorted((ROOT / "ddpm_lib").rglob("*.py"))
    ]
    modules = [m.removesuffix(".__init__") for m in modules]
    code = BLOCKER.replace(
        '{"matplotlib", "ipywidgets", "tqdm"}',
        '{"matplotlib", "ipywidgets", "tqdm", "ddpm_book"}',
    ).replace("import ddpm_lib\n", "".join(f"import {m}\n" for m in modules))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_sci_writes_powers_of_ten_for_running_text():
    from ddpm_book.notebook import sci

    assert sci(4.0358e-5) == "4.0 × 10⁻⁵"
    assert sci(2.653e-18, 1) == "3 × 10⁻¹⁸"
    assert sci(7.334e-4, 3) == "7.33 × 10⁻⁴"
    assert sci(12345.0) == "1.2 × 10⁴"
