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
                                nbgrader commands, from release to grades

The source notebooks are the book's chapters converted as the student
edition is (``scripts/student_edition.py``): markdown in plain Markdown
and LaTeX, and no display of an answer's source. ``nbgrader
generate_assignment`` then blanks the solutions (to ``raise
NotImplementedError()``, as in the student edition), removes the hidden
tests and empties the answer cells; ``nbgrader autograde`` runs the
hidden tests, which fail with a message that names the mistake.

Usage:
    python scripts/course.py                       # into instructor/
    python scripts/course.py DIR --chapters forward objective
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat
import student_edition as se

ROOT = se.ROOT
COURSE_ID = "ddpm"

CONFIG = '''\
"""nbgrader settings of the course, written by scripts/course.py."""

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = {course_id!r}
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
    config = CONFIG.format(course_id=COURSE_ID, prompt=se.ANSWER_PROMPT)
    (folder / "nbgrader_config.py").write_text(config)
    (folder / "rubrics.md").write_text(rubrics_markdown(sources))
    (folder / "README.md").write_text(readme(sources))
    shutil.copytree(ROOT / "results", folder / "results", dirs_exist_ok=True)
    print(f"Wrote the course for {', '.join(wanted)} to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
