"""The student edition: current, solutions out, runs top to bottom."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

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


def solution_cell():
    return nbformat.v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
        "    ### END SOLUTION"
    )


@pytest.fixture
def se(monkeypatch):
    """The script, with every pen-and-paper exercise worth 3 points."""
    module = load_script()
    monkeypatch.setattr(module, "exercise_points", lambda label: 3)
    return module


def test_solutions_hidden_tests_and_library_source_are_taken_out(se):
    v4 = nbformat.v4
    solution = solution_cell()
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
    answer = v4.new_code_cell("import dl\nshow_source(dl.q_sample)")
    dropdown = v4.new_markdown_cell(":::{solution-start} ex-f\n:::")
    pen = v4.new_markdown_cell(":::{solution} ex-g\nThe answer.\n:::")
    prompt = v4.new_markdown_cell(":::{exercise}\nDo it.\n:::")
    title = v4.new_markdown_cell("# A chapter")
    nb = v4.new_notebook(
        cells=[title, prompt, dropdown, solution, check, graded, source]
        + [answer, pen]
    )

    assert se.has_exercises(nb)
    index = se.BookIndex({}, {}, {"ex-g": "Show it"}, {})
    student = se.student_notebook(nb, "ch", index)
    sources = [c.source for c in student.cells]
    assert sources[0] == "# A chapter"
    assert "Save a copy in Drive" in sources[1]  # the opening note
    assert sources[2] == "### Exercise\n\nDo it."
    assert sources[3] == "def f(x):\n    raise NotImplementedError()"
    assert sources[4] == "print(check(f))"
    assert sources[5] == se.HIDDEN_NOTE
    # Displays of an answer's source: a note each, the import kept.
    assert "source of `f`" in sources[6] and "answer away" in sources[6]
    assert "source of `dl.q_sample`" in sources[7]
    assert sources[8] == "import dl"
    # The pen-and-paper solution: an empty, manually graded answer cell.
    assert sources[9] == f"**Your answer: Show it**\n\n{se.ANSWER_PROMPT}"
    assert "The answer" not in "".join(sources)
    meta = student.cells[9].metadata["nbgrader"]
    assert meta["solution"] and meta["grade"] and meta["points"] == 3
    assert meta["grade_id"] == "answer-ex-g"
    assert len(student.cells) == 10  # the dropdown is dropped
    assert student.cells[4].outputs == []
    assert student.cells[4].execution_count is None
    assert "keep_output" not in student.cells[4].metadata
    assert nb.cells[4].outputs, "the original is left unchanged"
    assert not se.has_exercises(v4.new_notebook(cells=[prompt]))
    # Written twice, the same notebook (cell ids included).
    again = se.student_notebook(nb, "ch", index)
    assert nbformat.writes(again) == nbformat.writes(student)


def test_the_instructor_source_keeps_solutions_and_model_answers(se):
    v4 = nbformat.v4
    solution = solution_cell()
    solution.outputs = [v4.new_output("stream", text="old output")]
    pen = v4.new_markdown_cell(":::{solution} ex-g\nThe answer.\n:::")
    leak = v4.new_code_cell("show_source(dl.q_sample)")
    nb = v4.new_notebook(cells=[solution, pen, leak])
    index = se.BookIndex({}, {}, {"ex-g": "Show it"}, {})
    source = se.handout(nb, "ch", index, instructor=True)
    assert source.cells[0].source == solution.source
    assert source.cells[0].outputs == []
    assert source.cells[1].source == "**Your answer: Show it**\n\nThe answer."
    assert source.cells[1].metadata["nbgrader"]["points"] == 3
    assert "dl.q_sample" in source.cells[2].source
    assert source.cells[2].cell_type == "markdown"


def test_no_student_copy_shows_an_answer_or_a_solution():
    import ddpm_book.exercises as ex

    se = load_script()
    answers = ex.answer_names()
    assert {"q_sample", "cosine_schedule", "ddim_sample"} <= answers
    pen_labels = set()
    for path in se.toc_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            label = se.pen_solution(cell)
            if label:
                pen_labels.add(label)
    answer_cells = set()
    for path in sorted((ROOT / "student").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for name in se.displayed_sources(cell):
                assert name.rpartition(".")[2] not in answers, (
                    f"{path.name} shows the source of {name}"
                )
            assert "### BEGIN SOLUTION" not in cell.source
            assert "### BEGIN HIDDEN TESTS" not in cell.source
            assert "{solution" not in cell.source
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type == "markdown" and grade_id:
                assert cell.source.endswith(se.ANSWER_PROMPT)
                answer_cells.add(grade_id.removeprefix("answer-"))
    assert answer_cells == pen_labels, "one answer cell per derivation"


def test_every_chapter_has_a_colab_copy_without_myst():
    se = load_script()
    chapters = se.toc_notebooks()
    assert len(chapters) > 10
    for path in chapters:
        copy = ROOT / "colab" / path.name
        assert copy.is_file(), f"no colab/{path.name}"
        book = nbformat.read(path, as_version=4)
        cells = nbformat.read(copy, as_version=4).cells
        code = [c.source for c in cells if c.cell_type == "code"]
        assert code == [c.source for c in book.cells if c.cell_type == "code"]
        for cell in cells:
            if cell.cell_type == "markdown":
                found = MYST.search(cell.source)
                assert not found, f"{copy.name}: {found.group(0)!r}"


def test_glued_values_are_printed_outside_the_book_build(monkeypatch, capsys):
    from ddpm_book import notebook

    monkeypatch.delenv(BOOK_ENV, raising=False)
    notebook.glue("floor_bpd", 0.901234, show=False)
    notebook.glue("phrase", "at the floor", show=False)
    assert capsys.readouterr().out == (
        "floor_bpd = 0.9012\nphrase = at the floor\n"
    )
    # Headless, as when grading, but without myst-nb: printed too.
    monkeypatch.setenv(BOOK_ENV, "1")
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    notebook.glue("floor_bpd", 0.901234, show=False)
    assert capsys.readouterr().out == "floor_bpd = 0.9012\n"


MYST = re.compile(
    r"\{[\w:-]*\}`"  # a role, {eq}`label`
    r"|^\s*(:{3,}|`{3,})\{"  # a directive fence, :::{note} or ```{note}
    r"|^\s*:[\w-]+:"  # a directive option, :label: x
    r"|^\([\w:-]+\)=",  # a target, (label)=
    re.M,
)


def test_student_markdown_has_no_myst_left():
    notebooks = sorted((ROOT / "student").rglob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                found = MYST.search(cell.source)
                assert not found, (
                    f"{path.name}: {found.group(0)!r} in\n{cell.source}"
                )


BIB = """@inproceedings{ho2020ddpm,
  title     = {Denoising Diffusion Probabilistic Models},
  author    = {Ho, Jonathan and Jain, Ajay and Abbeel, Pieter},
  year      = {2020},
}

@inproceedings{nichol2021improved,
  author    = {Nichol, Alexander Quinn and Dhariwal, Prafulla},
  year      = {2021}
}

@misc{luo2022understanding,
  author        = {Luo, Calvin},
  year          = {2022},
}

@inproceedings{binkowski2018demystifying,
  author    = {Bi{\\'n}kowski, Miko{\\l}aj and Sutherland, Danica J.},
  year      = {2018},
}
"""


def tiny_book(tmp_path: Path) -> Path:
    """Two chapters with labelled equations, an exercise and a section."""
    v4 = nbformat.v4
    first = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# First steps\n\n$$\na = 1\n$$ (one-a)"),
            v4.new_markdown_cell("$$ b = 2 $$\n\n$$\nc = 3\n$$ (one-c)"),
            v4.new_markdown_cell(
                ":::{exercise} Count to three\n:label: ex-count\nGo.\n:::"
            ),
            v4.new_markdown_cell("(one-more)=\n## More steps\n\nText."),
        ]
    )
    second = v4.new_notebook(
        cells=[v4.new_markdown_cell("# Second steps\n\n$$ d $$ (two-d)")]
    )
    nbformat.write(first, tmp_path / "first.ipynb")
    nbformat.write(second, tmp_path / "second.ipynb")
    (tmp_path / "api.md").write_text("# API reference\n\nText.\n")
    (tmp_path / "references.bib").write_text(BIB)
    return tmp_path


def test_the_book_index_numbers_equations_and_names_labels(tmp_path):
    se = load_script()
    index = se.book_index(tiny_book(tmp_path))
    assert index.titles == {
        "first": "First steps",
        "second": "Second steps",
        "api": "API reference",
    }
    # Only labelled equations count, per chapter, in order.
    assert index.equations == {
        "one-a": ("first", 1),
        "one-c": ("first", 2),
        "two-d": ("second", 1),
    }
    assert index.names == {
        "ex-count": "Count to three",
        "one-more": "More steps",
    }


def test_numbered_equations_carry_tags_and_references_their_numbers(tmp_path):
    se = load_script()
    index = se.book_index(tiny_book(tmp_path))
    cell = "$$\nc = 3\n$$ (one-c)\n\nBy {eq}`one-a` and {eq}`one-c`."
    assert se.to_markdown(cell, "first", index) == (
        "$$\nc = 3 \\tag{2}\n$$\n\nBy (1) and (2)."
    )
    assert se.to_markdown("$$ d $$ (two-d)", "second", index) == (
        "$$ d \\tag{1} $$"
    )
    assert se.to_markdown("As {eq}`two-d` shows.", "first", index) == (
        "As (equation 1 of the chapter *Second steps*) shows."
    )


def test_exercise_blocks_become_a_heading_and_their_body(tmp_path):
    se = load_script()
    index = se.book_index(tiny_book(tmp_path))
    gated = (
        ":::{exercise-start} Noise in one shot\n:label: ex-q\n:::\n\n"
        "Write `q_sample`, see {eq}`one-a`.\n\n:::{exercise-end}\n:::"
    )
    assert se.to_markdown(gated, "first", index) == (
        "### Exercise: Noise in one shot\n\nWrite `q_sample`, see (1)."
    )
    pen = ":::{exercise} By hand\n:label: ex-h\n\n1. Derive it.\n:::\n\nNext."
    assert se.to_markdown(pen, "first", index) == (
        "### Exercise: By hand\n\n1. Derive it.\n\nNext."
    )


def test_admonitions_and_algorithms_become_block_quotes():
    se = load_script()
    index = se.BookIndex({}, {}, {}, {})
    note = ":::{note}\nMind the\nindex.\n:::"
    assert se.to_markdown(note, "ch", index) == (
        "> **Note.** Mind the\n> index."
    )
    tip = "```{tip}\nA tip.\n```"
    assert se.to_markdown(tip, "ch", index) == "> **Tip.** A tip."
    goals = (
        "```{admonition} Learning goals\n:class: tip\n"
        "You can\n\n- derive it;\n- check it.\n```"
    )
    assert se.to_markdown(goals, "ch", index) == (
        "> **Learning goals.** You can\n>\n> - derive it;\n> - check it."
    )
    algorithm = (
        "```{prf:algorithm} Algorithm 1: training\n:label: alg\n"
        ":nonumber:\n\n1. **repeat**\n2. $\\quad x_0 \\sim q(x_0)$\n```"
    )
    assert se.to_markdown(algorithm, "ch", index) == (
        "> **Algorithm 1: training**\n>\n> 1. **repeat**\n"
        "> 2. $\\quad x_0 \\sim q(x_0)$"
    )


def test_citations_name_the_authors_and_year():
    se = load_script()
    index = se.BookIndex({}, {}, {}, se.parse_bibtex(BIB))
    text = (
        "{cite:t}`ho2020ddpm` and {cite:t}`nichol2021improved` "
        "{cite:p}`luo2022understanding,binkowski2018demystifying`."
    )
    assert se.to_markdown(text, "ch", index) == (
        "Ho et al. (2020) and Nichol and Dhariwal (2021) "
        "(Luo, 2022; Bińkowski and Sutherland, 2018)."
    )


def test_every_citation_of_the_book_is_in_its_bibliography():
    se = load_script()
    references = se.parse_bibtex(
        (ROOT / "book" / "references.bib").read_text()
    )
    assert references["ho2020ddpm"] == ("Ho et al.", "2020")
    assert references["binkowski2018demystifying"][0] == "Bińkowski et al."


def test_documents_sections_and_glued_values_become_text(tmp_path):
    se = load_script()
    index = se.book_index(tiny_book(tmp_path))
    text = (
        "See {doc}`second`, {doc}`the API <api>`, {ref}`ex-count`, "
        "{ref}`the next part <one-more>` and {prf:ref}`one-more`; "
        "$\\bar\\alpha_T$ = {glue:text}`abar_T:.2e` and {glue:}`fig`."
    )
    assert se.to_markdown("(one-more)=\n## More", "first", index) == "## More"
    assert se.to_markdown(text, "first", index) == (
        "See *Second steps*, the API (*API reference*), Count to three, "
        "the next part and More steps; "
        "$\\bar\\alpha_T$ = `abar_T` and `fig`."
    )


def test_unknown_myst_stops_the_conversion(tmp_path):
    se = load_script()
    index = se.book_index(tiny_book(tmp_path))
    for text, message in [
        (":::{figure} a.png\n:::", "no Markdown for the directive {figure}"),
        ("{term}`score`", "no Markdown for the role {term}"),
        ("{eq}`no-label`", "no equation 'no-label'"),
        ("{cite:p}`no-key`", "no reference 'no-key'"),
        ("{doc}`no-page`", "no chapter 'no-page'"),
        ("{ref}`no-label`", "no label 'no-label'"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            se.to_markdown(text, "first", index)


def test_student_notebooks_run_in_a_colab_like_environment():
    """Every student notebook, top to bottom with every exercise
    unfinished, where Colab's packages are all there is (ipywidgets 7.7.1,
    live widgets, ddpm_lib from a wheel; see scripts/colab_check.sh): each
    check must say "not written yet" and "Run all" must reach the end."""
    env_dir = ROOT / ".venv-colab"  # beside .venv: torch is hard-linked
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "colab_check.sh"), str(env_dir),
         "--student", "--link-torch-from", sys.prefix],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    ran = re.findall(r"^student/(\w+)\.ipynb +ok", run.stdout, re.M)
    wanted = sorted(p.stem for p in (ROOT / "student").glob("*.ipynb"))
    assert sorted(ran) == wanted, run.stdout


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
