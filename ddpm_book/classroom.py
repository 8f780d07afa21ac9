"""What the instructors' page tells: goals, exercises, time and grading.

Everything here is read from the chapters themselves (their learning
goals, exercise statements, solutions and nbgrader cells), from the
checks of :mod:`ddpm_book.exercises` and from the rubrics and ratings of
:mod:`ddpm_book.rubrics`, so the page cannot drift from the book.

Minutes are an *estimate from the text*, not a measurement with
students: reading the statement at :data:`READ_WPM` words a minute, then
for a coding exercise :data:`MIN_PER_LINE` minutes per line of the
reference solution plus :data:`CHECK_MIN` minutes to run the check and
fix what it reports, for a pen-and-paper exercise the worked solution's
length at :data:`WRITE_WPM` words a minute (thinking included), rounded
up to a multiple of :data:`ROUND_MIN` minutes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from ddpm_book import exercises as ex
from ddpm_book.exercises import training as training_check
from ddpm_book.notebook import repository_bytes
from ddpm_book.rubrics import DIFFICULTY, RUBRICS, Difficulty

__all__ = [
    "CHAPTERS",
    "ExerciseInfo",
    "book_exercises",
    "chapter_title",
    "estimate_minutes",
    "exercise_table",
    "goals_markdown",
    "learning_goals",
    "mistakes_recognised",
    "mistakes_table",
]

# The chapters with exercises, in the book's order.
CHAPTERS = (
    "schedules",
    "forward",
    "posterior",
    "objective",
    "network",
    "training",
    "sampling",
    "evaluation",
    "guidance",
)
# Chapters without exercises whose goals the page lists too.
OTHER_CHAPTERS = ("glance", "beyond")

READ_WPM = 100  # reading a technical statement, words a minute
MIN_PER_LINE = 3  # writing one line of a coding answer
CHECK_MIN = 5  # running the check and fixing what it says
WRITE_WPM = 15  # writing a derivation, thinking included
ROUND_MIN = 5  # estimates are rounded up to a multiple of this

EXERCISE = re.compile(
    r"^:{3,}\{exercise(?P<gated>-start)?\}[ \t]*(?P<title>[^\n]*)\n"
    r":label:[ \t]*(?P<label>\S+)\n(?P<body>.*)",
    re.S,
)
PEN_SOLUTION = re.compile(
    r"^:{3,}\{solution\}[ \t]*(?P<label>\S+)\n(.*)", re.S
)
SOLUTION_CODE = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


@dataclass(frozen=True)
class ExerciseInfo:
    """One exercise of the book, as the instructors' page lists it."""

    chapter: str
    label: str
    title: str
    check: str  # the ex.check_* of a coding exercise; "" for pen and paper
    statement_words: int
    solution_size: int  # lines of solution code, or words of the solution
    points: int  # autograded (hidden test) or manually graded (rubric)
    difficulty: Difficulty

    @property
    def kind(self) -> str:
        return "coding" if self.check else "pen and paper"

    @property
    def minutes(self) -> int:
        return estimate_minutes(
            self.kind, self.statement_words, self.solution_size
        )


def estimate_minutes(kind: str, statement_words: int, size: int) -> int:
    """Minutes for an exercise, estimated from its text (module doc).

    Args:
        kind: ``"coding"`` or ``"pen and paper"``.
        statement_words: Words of the exercise's statement.
        size: Lines of the reference solution's code (coding), or words
            of the worked solution (pen and paper).
    """
    if kind == "coding":
        work = MIN_PER_LINE * size + CHECK_MIN
    elif kind == "pen and paper":
        work = size / WRITE_WPM
    else:
        raise ValueError(f"kind must be coding or pen and paper; got {kind!r}")
    minutes = statement_words / READ_WPM + work
    return ROUND_MIN * math.ceil(minutes / ROUND_MIN)


def _cells(chapter: str) -> list[dict]:
    nb = json.loads(repository_bytes(f"book/{chapter}.ipynb"))
    return [{**c, "source": "".join(c["source"])} for c in nb["cells"]]


def _words(markdown: str) -> int:
    text = re.sub(r"^:{3,}.*$|^:\w+:.*$", "", markdown, flags=re.M)
    return len(re.findall(r"[^\s$\\{}]+", text))


def book_exercises() -> list[ExerciseInfo]:
    """Every exercise of the chapters in :data:`CHAPTERS`, in book order."""
    found = []
    for chapter in CHAPTERS:
        cells = _cells(chapter)
        for i, cell in enumerate(cells):
            m = EXERCISE.match(cell["source"])
            if cell["cell_type"] != "markdown" or not m:
                continue
            label = m["label"]
            statement = m["body"].split(":::{exercise-end}")[0]
            if m["gated"]:
                check, size, points = _coding_parts(cells[i + 1 : i + 8])
            else:
                check, points = "", RUBRICS[label].points
                size = _words(_pen_solution(cells, label))
            found.append(
                ExerciseInfo(
                    chapter,
                    label,
                    m["title"].strip(),
                    check,
                    _words(statement),
                    size,
                    points,
                    DIFFICULTY[label],
                )
            )
    return found


def _coding_parts(cells: list[dict]) -> tuple[str, int, int]:
    """(check, solution lines, points) from the cells after an exercise."""
    code = "\n".join(c["source"] for c in cells if c["cell_type"] == "code")
    check = re.search(r"ex\.(check_\w+)", code)
    solution = SOLUTION_CODE.search(code)
    if not (check and solution):
        raise ValueError(f"no check or solution after an exercise:\n{code}")
    lines = [
        line
        for line in solution.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    points = sum(
        c["metadata"].get("nbgrader", {}).get("points", 0)
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade")
    )
    return check.group(1), len(lines), points


def _pen_solution(cells: list[dict], label: str) -> str:
    for cell in cells:
        m = PEN_SOLUTION.match(cell["source"])
        if m and m["label"] == label:
            return m.group(2)
    raise ValueError(f"no solution for the exercise {label}")


def learning_goals(chapter: str) -> list[str]:
    """The bullets under a chapter's *Learning goals*, as Markdown (in a
    box or after a bold lead-in)."""
    for cell in _cells(chapter):
        head, found, rest = cell["source"].partition("Learning goals")
        if cell["cell_type"] != "markdown" or not found:
            continue
        items: list[str] = []
        for line in rest.splitlines()[1:]:
            if line.startswith("- "):
                items.append(line[2:])
            elif items and line.startswith((" ", "\t")):
                items[-1] += " " + line.strip()
            elif items and line.strip():
                break  # the text after the list, or the box's fence
        if items:
            return [" ".join(item.split()) for item in items]
    raise ValueError(f"the chapter {chapter} lists no learning goals")


def mistakes_recognised(check: str) -> list[str]:
    """What the check ``check`` (e.g. ``"check_q_sample"``) recognises."""
    if check == "check_training_loss":
        return list(training_check.RECOGNISED)
    exercise = ex.coding_exercises().get(check)
    if exercise is None:
        raise ValueError(f"no exercise behind {check}")
    return list(dict.fromkeys(m.hint for m in exercise.mistakes))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def exercise_table(items: list[ExerciseInfo]) -> str:
    """A Markdown table: chapter, exercise, kind, points, minutes, level."""
    rows = [
        _row(["chapter", "exercise", "kind", "points", "minutes", "level"]),
        _row(["---"] * 6),
    ]
    for item in items:
        kind = f"coding, `{item.check}`" if item.check else item.kind
        rows.append(
            _row(
                [
                    item.chapter,
                    item.title,
                    kind,
                    str(item.points),
                    str(item.minutes),
                    str(item.difficulty.level),
                ]
            )
        )
    return "\n".join(rows)


# The checks' messages write indices as in code, ᾱ_{t−1}; on a page
# that typesets TeX they read as Unicode subscripts, ᾱₜ₋₁.
_SUBSCRIPTS = str.maketrans("t+−-0123456789", "ₜ₊₋₋₀₁₂₃₄₅₆₇₈₉")


def _as_prose(message: str) -> str:
    """A check's message for a Markdown page: ``_{t−1}`` as subscripts,
    ``^{1/2}`` as ``^(1/2)``, and no table-breaking ``|``."""

    def sub(m: re.Match) -> str:
        inner = m.group(1)
        if set(inner) <= set("t+−-0123456789"):
            return inner.translate(_SUBSCRIPTS)
        return f"_({inner})"

    message = re.sub(r"_\{([^{}]*)\}", sub, message)
    message = re.sub(r"\^\{([^{}]*)\}", r"^(\1)", message)
    return message.replace("|", "∣")


def mistakes_table(items: list[ExerciseInfo]) -> str:
    """Markdown: each coding exercise's check and the mistakes it names."""
    rows = [_row(["check", "mistakes it recognises"]), _row(["---"] * 2)]
    for item in items:
        if item.check:
            named = "; ".join(mistakes_recognised(item.check))
            rows.append(_row([f"`{item.check}`", _as_prose(named)]))
    return "\n".join(rows)


def chapter_title(chapter: str) -> str:
    """The ``# `` title of a chapter."""
    for cell in _cells(chapter):
        m = re.match(r"# (.+)", cell["source"])
        if cell["cell_type"] == "markdown" and m:
            return m.group(1).strip()
    raise ValueError(f"the chapter {chapter} has no title")


def goals_markdown(chapters: tuple[str, ...]) -> str:
    """Each chapter's title and learning goals, as Markdown."""
    parts = []
    for chapter in chapters:
        goals = "\n".join(f"- {g}" for g in learning_goals(chapter))
        parts.append(f"**{chapter_title(chapter)}**\n\n{goals}")
    return "\n\n".join(parts)
