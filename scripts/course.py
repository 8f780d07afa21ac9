"""Write an nbgrader course folder for a class taught from the book.

The folder is the instructor's: it holds the solutions, the hidden tests
and the rubrics, so it is written on demand (by default into
``instructor/``, which git ignores) and never published with the site.

    instructor/
      nbgrader_config.py        the course's nbgrader settings
      source/<chapter>/<chapter>.ipynb
                                one assignment per chapter with exercises:
                                solutions, hidden tests, and an answer cell
                                holding the model answer for every
                                pen-and-paper exercise (manually graded,
                                with the points of its rubric)
      results/                  the result files the chapters read
      rubrics.md                the rubric of every pen-and-paper exercise
      README.md                 the points of each assignment, and the
                                nbgrader (and otter) commands, from
                                release to grades
      otter/<chapter>/          with --otter, besides the above: the
        <chapter>.ipynb         same assignment as an otter-assign master
        results/                notebook (format v1), and the result
                                files it ships to students and Gradescope

The source notebooks are the book's chapters converted as the student
edition is (``scripts/student_edition.py``): markdown in plain Markdown
and LaTeX, and no display of an answer's source. ``nbgrader
generate_assignment`` then blanks the solutions (to ``raise
NotImplementedError()``, as in the student edition), removes the hidden
tests and empties the answer cells; ``nbgrader autograde`` runs the
hidden tests, which fail with a message that names the mistake.

The otter master notebooks are made from the nbgrader source notebooks
(``otter_notebook``), so both hold the same solutions, tests and model
answers: ``otter assign`` writes the hand-out and the autograder zip
that Gradescope runs, and ``otter run`` grades a notebook locally.

Usage:
    python scripts/course.py                       # into instructor/
    python scripts/course.py DIR --chapters forward objective
    python scripts/course.py --otter               # and otter/ beside it
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
import textwrap
from pathlib import Path

import nbformat
import student_edition as se

from ddpm_book.modes import BOOK_ENV
from ddpm_lib import project

ROOT = se.ROOT
COURSE_ID = "ddpm"

CONFIG = '''\
"""nbgrader settings of the course, written by scripts/course.py."""

import os

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = {course_id!r}
# Grading runs with no browser: the chapters' explorers draw still frames,
# as on the book's site, instead of live widgets that nothing displays.
os.environ.setdefault({book_env!r}, '1')
# What generate_assignment leaves where a solution was: the student
# edition's stub, and its prompt in the answer cells of derivations.
c.ClearSolutions.code_stub = {{"python": "raise NotImplementedError()"}}
c.ClearSolutions.text_stub = {prompt!r}
# A chapter runs top to bottom when graded; the training chapter trains.
c.ExecutePreprocessor.timeout = 1800
'''


def course_notebook(nb, chapter: str, index: se.BookIndex):
    """A chapter as an nbgrader source notebook (see the module's doc)."""
    nb = se.handout(nb, chapter, index, instructor=True)
    se.opening_note(nb, [se.HANDOUT_NOTE])
    return nb


# ---------------------------------------------------------------------------
# The same assignment for otter-grader: an otter-assign master notebook
# (format v1) made from the nbgrader source notebook, so that the two
# never differ. Each nbgrader marker has its otter counterpart:
#
# nbgrader                              otter (raw cells are blocks)
# solution code cell                    # BEGIN SOLUTION … # END SOLUTION
#   ### BEGIN / END SOLUTION              # BEGIN SOLUTION NO PROMPT /
#                                         # END SOLUTION, then the stub
#                                         as the prompt
# graded code cell (points)             # BEGIN TESTS … # END TESTS and
#   ### BEGIN / END HIDDEN TESTS          # END QUESTION; a test cell
#                                         headed # HIDDEN
# answer cell (markdown, points)        a question with manual: true,
#                                         the prompt, the model answer

STUB = "raise NotImplementedError()"  # what students write over
NB_BEGIN_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*$", re.M)
NB_END_SOLUTION = re.compile(r"^([ \t]*)### END SOLUTION[ \t]*$", re.M)
NB_HIDDEN_TESTS = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(?P<code>.*?)"
    r"^[ \t]*### END HIDDEN TESTS[ \t]*\n?",
    re.M | re.S,
)

OTTER_CONFIG = """\
# ASSIGNMENT CONFIG
# Written by scripts/course.py from source/{name}/{name}.ipynb.
name: {name}
# What the grading image installs (on Gradescope): this release of the
# library, as the chapter's set-up cell installs it.
requirements:
  - {requirement}
# The result files the chapter reads, for the hand-out and the autograder.
files:
  - results
# No otter client in the hand-out: students need only the library, and
# the cell under each exercise checks it. The hidden tests run right
# after each question when a notebook is graded.
init_cell: false
check_all_cell: false
export_cell: false
# No PDFs (no LaTeX here): the answer cells are graded in the notebook.
solutions_pdf: false
template_pdf: false
generate:
  pdf: false
  # The hidden tests' messages name the mistake: show them to students
  # once the grades are published, and no summary of public tests (there
  # are none: it would say that all passed).
  show_hidden: true
  force_public_test_summary: false
"""


def raw_cell(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def otter_requirement() -> str:
    """The pip requirement for this release of the library."""
    return f"ddpm_lib[data,book] @ {project.pip_spec()}"


def otter_solution(cell) -> nbformat.NotebookNode:
    """A solution cell with otter's markers: the solution, then the
    student edition's stub as the prompt that replaces it."""

    def begin(m: re.Match) -> str:
        return f"{m[1]}# BEGIN SOLUTION NO PROMPT"

    def end(m: re.Match) -> str:
        lines = ["# END SOLUTION", '""" # BEGIN PROMPT', STUB]
        lines.append('"""; # END PROMPT')
        return "\n".join(m[1] + line for line in lines)

    cell = copy_cell(cell)
    cell.source = NB_END_SOLUTION.sub(
        end, NB_BEGIN_SOLUTION.sub(begin, cell.source)
    )
    return cell


def otter_tests(cell) -> list[nbformat.NotebookNode]:
    """The test cells of an nbgrader graded code cell: its hidden tests
    in one cell headed ``# HIDDEN``, and any other code as a public test.
    """
    hidden = [m["code"] for m in NB_HIDDEN_TESTS.finditer(cell.source)]
    public = NB_HIDDEN_TESTS.sub("", cell.source).strip()
    tests = []
    if public:
        tests.append(nbformat.v4.new_code_cell(public))
    if hidden:
        code = textwrap.dedent("".join(hidden)).strip()
        tests.append(nbformat.v4.new_code_cell(f"# HIDDEN\n{code}"))
    return tests


def question_cell(name: str, points, *, manual: bool = False):
    config = f"# BEGIN QUESTION\nname: {name}\npoints: {points}"
    if manual:
        config += "\nmanual: true"
    else:  # no otter client in the hand-out (see OTTER_CONFIG)
        config += "\ncheck_cell: false"
    return raw_cell(config)


def exercise_statement(cells: list, chapter: str, grade_id: str):
    """The exercise's statement, the markdown cell above its first
    solution cell, taken off ``cells`` to open the question.

    Otter locks the first cell of a question (and marks it for PDFs);
    this keeps that cell the statement, not the cell students write in.
    """
    if not cells or cells[-1].cell_type != "markdown":
        raise ValueError(
            f"{chapter}: no markdown statement right above the solution "
            f"cell of {grade_id}"
        )
    return cells.pop()


def manual_question(cell, statement) -> list[nbformat.NotebookNode]:
    """An answer cell as a manually graded otter question: its statement,
    the student edition's prompt under the cell's heading, then the model
    answer."""
    meta = cell.metadata["nbgrader"]
    heading = cell.source.split("\n\n", 1)[0]
    prompt = nbformat.v4.new_markdown_cell(f"{heading}\n\n{se.ANSWER_PROMPT}")
    return [
        question_cell(meta["grade_id"], meta["points"], manual=True),
        statement,
        raw_cell("# BEGIN PROMPT"),
        prompt,
        raw_cell("# END PROMPT"),
        raw_cell("# BEGIN SOLUTION"),
        copy_cell(cell),
        raw_cell("# END SOLUTION"),
        raw_cell("# END QUESTION"),
    ]


# What otter assign reads in a cell besides its blocks: a first line
# ``# ignore`` drops the cell; lines ending in ``# IGNORE`` or ``# SEED``
# and ``# BEGIN IGNORE`` blocks are dropped; a fenced ``otter`` block
# becomes cells; in a solution cell, a line with ``# SOLUTION`` becomes
# ``...``.
OTTER_MISREADS = re.compile(
    r"\A(?i:##\s*ignore\s*##|#\s*ignore)|# (IGNORE|SEED)[ \t]*$"
    r"|^[ \t]*(?i:#\s*BEGIN\s*IGNORE)|^[ \t]*```otter",
    re.M,
)
OTTER_SOLUTION_LINE = re.compile(r"# ?SOLUTION")


def copy_cell(cell) -> nbformat.NotebookNode:
    """A copy of a cell without its nbgrader metadata."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    return cell


def check_otter_reads(cell, chapter: str, *, solution: bool) -> None:
    """Raise ValueError if otter assign would read ``cell`` as more than
    its text (see OTTER_MISREADS)."""
    source = cell.source
    if solution:
        source = "\n".join(
            line
            for line in source.splitlines()
            if not line.strip().endswith(
                ("### BEGIN SOLUTION", "### END SOLUTION")
            )
        )
    misread = OTTER_MISREADS.search(source) or (
        solution and OTTER_SOLUTION_LINE.search(source)
    )
    if misread:
        raise ValueError(
            f"{chapter}: otter assign would misread the cell "
            f"{cell.get('id', '?')} ({misread[0].strip()!r})"
        )


def otter_notebook(source, chapter: str) -> nbformat.NotebookNode:
    """The otter-assign master notebook (format v1) of an nbgrader source
    notebook (``course_notebook``'s), with the same cells otherwise.

    A question opens with the exercise's statement (the markdown cell
    above its first solution cell); an autograded one runs on to the
    graded cell of its hidden tests, and includes the cells between (the
    check that students see).

    Raises:
        ValueError: for a graded cell that follows no solution, a solution
            with no graded cell after it or no statement above it, or a
            cell that otter would read as more than its text.
    """
    cells = [
        raw_cell(
            OTTER_CONFIG.format(
                name=chapter, requirement=json.dumps(otter_requirement())
            )
        )
    ]
    question: list = []  # the cells of the autograded question so far
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        solution, grade = meta.get("solution"), meta.get("grade")
        check_otter_reads(cell, chapter, solution=bool(solution))
        if solution and grade and cell.cell_type == "markdown":
            statement = exercise_statement(cells, chapter, meta["grade_id"])
            cells += manual_question(cell, statement)
        elif solution and not grade and cell.cell_type == "code":
            solved = otter_solution(cell)
            if not question:
                question = [
                    exercise_statement(cells, chapter, meta["grade_id"])
                ]
            question += [
                raw_cell("# BEGIN SOLUTION"),
                solved,
                raw_cell("# END SOLUTION"),
            ]
        elif grade and not solution and cell.cell_type == "code":
            if not question:
                raise ValueError(
                    f"{chapter}: the graded cell {meta['grade_id']} follows "
                    "no solution cell"
                )
            cells += [
                question_cell(meta["grade_id"], meta["points"]),
                *question,
                raw_cell("# BEGIN TESTS"),
                *otter_tests(cell),
                raw_cell("# END TESTS"),
                raw_cell("# END QUESTION"),
            ]
            question = []
        elif solution or grade:
            raise ValueError(
                f"{chapter}: no otter counterpart for the nbgrader cell "
                f"{meta.get('grade_id')} ({cell.cell_type}, solution: "
                f"{bool(solution)}, grade: {bool(grade)})"
            )
        elif question:
            question.append(copy_cell(cell))
        else:
            cells.append(copy_cell(cell))
    if question:
        raise ValueError(
            f"{chapter}: a solution cell has no graded cell after it"
        )
    nb = copy.deepcopy(source)
    nb.cells = cells
    return nb


def write_otter(folder: Path, nb, chapter: str) -> None:
    """otter/<chapter>/: the master notebook and the results it ships."""
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{chapter}.ipynb")
    shutil.copytree(ROOT / "results", folder / "results", dirs_exist_ok=True)


def graded_cells(nb) -> list[tuple[str, int, bool]]:
    """(grade_id, points, manual) of every graded cell of a notebook."""
    found = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            manual = cell.cell_type == "markdown"
            found.append((meta["grade_id"], meta.get("points", 0), manual))
    return found


def rubrics_markdown(chapters: dict[str, nbformat.NotebookNode]) -> str:
    """rubrics.md: each pen-and-paper exercise's rubric, by chapter."""
    from ddpm_book.rubrics import RUBRICS

    index = se.book_index()
    parts = [
        "# Rubrics for the pen-and-paper exercises\n",
        "Each criterion names what a full-credit answer shows; the common "
        "errors say what they usually cost. The model answers are in the "
        "answer cells of `source/`, and on the book's site.\n",
    ]
    for chapter, nb in chapters.items():
        labels = [
            grade_id.removeprefix("answer-")
            for grade_id, _, manual in graded_cells(nb)
            if manual
        ]
        if not labels:
            continue
        parts.append(f"## {index.titles[chapter]} (`{chapter}`)\n")
        for label in labels:
            rubric = RUBRICS[label]
            parts.append(
                f"### {index.names[label]} ({rubric.points} points, "
                f"`answer-{label}`)\n"
            )
            parts += [f"- {c.points} pt: {c.text}" for c in rubric.criteria]
            if rubric.common_errors:
                parts.append("\nCommon errors:\n")
                parts += [f"- {e}" for e in rubric.common_errors]
            parts.append("")
    return "\n".join(parts) + "\n"


def readme(sources: dict[str, nbformat.NotebookNode]) -> str:
    rows = []
    for chapter, nb in sources.items():
        graded = graded_cells(nb)
        auto = sum(p for _, p, manual in graded if not manual)
        manual = sum(p for _, p, m in graded if m)
        rows.append(f"| `{chapter}` | {auto} | {manual} | {auto + manual} |")
    table = "\n".join(rows)
    first = next(iter(sources), "forward")
    requirement = otter_requirement()
    return f"""# The course folder

Written by `python scripts/course.py` from the book's chapters. It holds
the solutions, the hidden tests and the rubrics: keep it out of the
students' reach (it is not part of the published site).

| assignment | autograded points | manually graded points | total |
|---|---|---|---|
{table}

Autograded points come from the hidden tests, one per coding exercise;
manually graded points from the answer cells of the pen-and-paper
exercises, whose rubrics are in `rubrics.md`.

## From release to grades

Run these here, in the course folder, in an environment with the
library and nbgrader (from the clone: `pip install -e ".[data,book]"
nbgrader`):

```bash
nbgrader generate_assignment {first}  # release/{first}/: the hand-out
# Hand out release/{first}/{first}.ipynb. Put each returned notebook at
# submitted/<student>/{first}/{first}.ipynb (nbgrader zip_collect does
# this for a zip of files downloaded from a learning platform).
nbgrader autograde {first}            # runs each submission top to bottom
nbgrader formgrade                    # grade the answer cells in Jupyter
nbgrader generate_feedback {first}    # feedback/<student>/{first}/
nbgrader export                       # grades.csv
```

The chapters read result files from `results/` in this folder; set
`DDPM_FAST=1` before grading to run them at small sizes (the checks are
the same).

## Otter and Gradescope

`python scripts/course.py --otter` writes, besides the nbgrader files,
each assignment as an otter-assign master notebook,
`otter/<chapter>/<chapter>.ipynb`, made from the same source notebook
(solutions, hidden tests, model answers), with a copy of `results/`
beside it. In an environment with the library and otter-grader
(`pip install -e ".[data,book]" otter-grader`):

```bash
cd otter/{first}
otter assign {first}.ipynb dist   # runs the solutions against the tests
# dist/student/: the hand-out ({first}.ipynb and results/);
# dist/autograder/{first}-autograder_<time>.zip: the autograder.
otter run -a dist/autograder/{first}-autograder_*.zip <notebook>.ipynb
# grades one returned notebook here, without Docker: results.json
```

On Gradescope, create a programming assignment, upload the autograder
zip in its *Configure Autograder* page, and let students submit their
`{first}.ipynb`. Gradescope builds the grading image from the zip: it
installs otter-grader and the release of the library the course was
written from,

    {requirement}

(pip fetches it from GitHub with git), then runs each submission top to
bottom, and the hidden tests give the autograded points of the table
above; their messages, which name the mistake, show once grades are
published. The manually graded questions (the *Your answer* cells) are
not autograded: grade them by hand, with the rubrics in `rubrics.md`
(on Gradescope, with manual grading of the programming assignment). No
PDF is made: there is no LaTeX here. Here, `DDPM_FAST=1` before `otter
assign` or `otter run` runs the chapter at small sizes (the checks are
the same); Gradescope runs it at full size.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=ROOT / "instructor",
        help="the course folder to write (default: instructor/)",
    )
    parser.add_argument(
        "--chapters",
        nargs="+",
        metavar="NAME",
        help="only these chapters (default: every chapter with exercises)",
    )
    parser.add_argument(
        "--otter",
        action="store_true",
        help="also write otter/<chapter>/: the same assignments as "
        "otter-assign master notebooks (otter-grader, Gradescope)",
    )
    args = parser.parse_args(argv)
    chapters = {
        p.stem: nbformat.read(p, as_version=4) for p in se.toc_notebooks()
    }
    chapters = {n: nb for n, nb in chapters.items() if se.has_exercises(nb)}
    wanted = args.chapters or list(chapters)
    unknown = sorted(set(wanted) - set(chapters))
    if unknown:
        print(
            f"error: no chapter with exercises named {', '.join(unknown)}; "
            f"choose from {', '.join(chapters)}",
            file=sys.stderr,
        )
        return 2
    folder = args.folder.resolve()
    if folder.exists() and not folder.is_dir():
        print(f"error: {folder} is a file, not a folder", file=sys.stderr)
        return 2
    if (folder / "gradebook.db").exists() or (folder / "submitted").exists():
        print(
            f"note: {folder} already holds a gradebook or submissions; "
            "they are kept, and source/ is rewritten",
            file=sys.stderr,
        )
    index = se.book_index()
    sources = {
        name: course_notebook(chapters[name], name, index) for name in wanted
    }
    for name, nb in sources.items():
        path = folder / "source" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    config = CONFIG.format(
        course_id=COURSE_ID, prompt=se.ANSWER_PROMPT, book_env=BOOK_ENV
    )
    (folder / "nbgrader_config.py").write_text(config)
    (folder / "rubrics.md").write_text(rubrics_markdown(sources))
    (folder / "README.md").write_text(readme(sources))
    shutil.copytree(ROOT / "results", folder / "results", dirs_exist_ok=True)
    if args.otter:
        for name, nb in sources.items():
            write_otter(
                folder / "otter" / name, otter_notebook(nb, name), name
            )
    print(f"Wrote the course for {', '.join(wanted)} to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
