"""The student edition: current, solutions out, runs top to bottom."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from ddpm_book.modes import BOOK_ENV

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "student_edition.py"


def load_script():
    spec = importlib.util.spec_from_file_location("student_edition", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_student_edition_is_up_to_date():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_solutions_hidden_tests_and_library_source_are_taken_out():
    se = load_script()
    v4 = nbformat.v4
    solution = v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
        "    ### END SOLUTION"
    )
    solution.metadata["nbgrader"] = {"solution": True, "grade_id": "f"}
    check = v4.new_code_cell("print(check(f))")
    check.metadata.update(tags=["nbval-check-output"], keep_output=True)
    check.outputs = [v4.new_output("stream", text="✔ f: correct")]
    check.execution_count = 3
    graded = v4.new_code_cell(
        "### BEGIN HIDDEN TESTS\nassert check(f).passed\n### END HIDDEN TESTS"
    )
    source = v4.new_code_cell("show_source(f)")
    source.metadata["tags"] = ["library-source", "hide-cell"]
    dropdown = v4.new_markdown_cell(":::{solution-start} ex-f\n:::")
    pen = v4.new_markdown_cell(":::{solution} ex-g\nThe answer.\n:::")
    prompt = v4.new_markdown_cell(":::{exercise}\nDo it.\n:::")
    nb = v4.new_notebook(
        cells=[prompt, dropdown, solution, check, graded, source, pen]
    )

    assert se.has_exercises(nb)
    student = se.student_notebook(nb)
    sources = [c.source for c in student.cells]
    assert sources[0] == prompt.source
    assert sources[1] == "def f(x):\n    raise NotImplementedError()"
    assert sources[2] == "print(check(f))"
    assert sources[3] == se.HIDDEN_NOTE
    assert len(student.cells) == 4  # dropdowns and library source dropped
    assert student.cells[2].outputs == []
    assert student.cells[2].execution_count is None
    assert "keep_output" not in student.cells[2].metadata
    assert nb.cells[3].outputs, "the original is left unchanged"
    assert not se.has_exercises(v4.new_notebook(cells=[prompt]))


# Runs one notebook with nbclient in a fresh Python process and writes the
# executed copy: the kernel's messages then travel over sockets of a
# process that no other test has touched (a pytest worker that ran the
# training tests before has been seen to lose a kernel's reply).
EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
"""


def test_student_notebooks_run_with_every_exercise_unfinished(tmp_path):
    notebooks = sorted((ROOT / "student").rglob("*.ipynb"))
    assert notebooks
    # As in a clone of the repository: the result files the chapters read
    # lie in results/ above the notebooks (Colab downloads them instead).
    shutil.copytree(ROOT / "results", tmp_path / "results")
    # Explorers and progress bars as on the static site: no ipywidgets,
    # whose comm messages can leave nbclient waiting on an idle kernel
    # (jupyter/nbclient#312); live widgets are tested in test_explore.
    env = {**os.environ, BOOK_ENV: "1"}
    for path in notebooks:
        executed = tmp_path / path.name
        run = subprocess.run(
            [sys.executable, "-c", EXECUTE, str(path), str(executed),
             str(tmp_path)],
            capture_output=True, text=True, timeout=1800, env=env,
        )  # fmt: skip
        assert run.returncode == 0, f"{path.name}: {run.stderr[-3000:]}"
        nb = nbformat.read(executed, as_version=4)
        checks = [
            "".join(o.get("text", "") for o in c.outputs)
            for c in nb.cells
            if c.cell_type == "code" and "print(ex.check_" in c.source
        ]
        assert checks and all("not written yet" in c for c in checks), checks


def chapter_exercises() -> dict[str, tuple[str, str]]:
    """Every exercise in the chapters, in book order: label → (title, check).

    The check is the ``ex.check_*`` a coding exercise's check cell calls,
    or "" for a pen-and-paper exercise.
    """
    found = {}
    toc = re.findall(r"file: (\S+)", (ROOT / "_toc.yml").read_text())
    for path in [ROOT / f"{name}.ipynb" for name in toc]:
        if not path.is_file():
            continue
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            m = re.match(
                r":::\{exercise(-start)?\} (.*)\n:label: (\S+)", cell.source
            )
            if not m:
                continue
            check = ""
            if m.group(1):  # a coding exercise: its check follows it
                after = "\n".join(c.source for c in cells[i + 1 : i + 6])
                check = re.search(r"ex\.(check_\w+)", after).group(1)
            found[m.group(3)] = (m.group(2), check)
    return found


def test_the_exercise_index_lists_every_exercise_with_its_check():
    index = (ROOT / "book" / "exercises.md").read_text()
    rows = re.findall(r"\{ref\}`([\w-]+)` \| ([^|]+) \| ([^|]+) \|", index)
    listed = {
        label: (title.strip(), kind.strip()) for label, title, kind in rows
    }
    exercises = chapter_exercises()
    assert len(exercises) >= 15
    assert list(listed) == list(exercises)  # all of them, in book order
    for label, (title, check) in exercises.items():
        kind = f"coding, `{check}`" if check else "pen and paper"
        assert listed[label] == (title, kind), label
