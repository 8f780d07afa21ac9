"""The rubrics and difficulties of ddpm_book.rubrics against the notebooks.

The exercises are read from the chapters themselves: an exercise is a
``{exercise}`` or ``{exercise-start}`` directive with a ``:label:``; it is
pen and paper when a markdown cell opens a plain ``{solution} <label>``
directive, coding when its solution is the gated ``{solution-start}``.
"""

import json
import re
from pathlib import Path

import pytest

from ddpm_book.rubrics import (
    DIFFICULTY,
    LEVELS,
    RUBRICS,
    Criterion,
    Difficulty,
    Rubric,
)

BOOK = Path(__file__).resolve().parents[1] / "book"
# A MyST directive's opening line, ":::{name} argument" (or with backticks).
DIRECTIVE = re.compile(r"^(?::{3,}|`{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
# Markup that does not belong in plain text: TeX, MyST roles, directives.
TEX = re.compile(r"\\[A-Za-z]")
ROLE = re.compile(r"\{[\w:-]+\}`")
COST = re.compile(r": −(?P<points>\d+)$")


def directives(text):
    """(name, argument, options) of each directive opened in ``text``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = DIRECTIVE.match(line.strip())
        if not match:
            continue
        options = {}
        for option_line in lines[i + 1 :]:
            option = OPTION.match(option_line.strip())
            if not option:
                break
            options[option["key"]] = option["value"].strip()
        yield match["name"], match["arg"].strip(), options


def read_exercises():
    """Label → (notebook, kind) for every exercise of book/*.ipynb, and
    label → the markdown of the cell that states it."""
    labels, solutions, statements = {}, {}, {}
    for path in sorted(BOOK.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for name, arg, options in directives(text):
                if name in ("exercise", "exercise-start"):
                    label = options.get("label", "")
                    assert label not in labels, f"{label} defined twice"
                    labels[label] = path.name
                    statements[label] = text
                elif name in ("solution", "solution-start"):
                    kind = "pen" if name == "solution" else "coding"
                    solutions[arg] = kind
    exercises = {
        label: (notebook, solutions.get(label))
        for label, notebook in labels.items()
    }
    return exercises, statements


EXERCISES, STATEMENTS = read_exercises()
PEN = {label for label, (_, kind) in EXERCISES.items() if kind == "pen"}
CODING = {label for label, (_, kind) in EXERCISES.items() if kind == "coding"}


def texts():
    """(where, text) of every string a rubric or a difficulty holds."""
    for label, rubric in RUBRICS.items():
        for criterion in rubric.criteria:
            yield f"{label} criterion", criterion.text
        for error in rubric.common_errors:
            yield f"{label} common error", error
    for label, difficulty in DIFFICULTY.items():
        yield f"{label} difficulty", difficulty.why


def test_the_notebooks_are_read():
    # Guards the tests below against a parser that finds nothing.
    assert len(EXERCISES) >= 20
    assert "ex-fwd-lt" in PEN
    assert "ex-fwd-q-sample" in CODING
    assert all(label.startswith("ex-") for label in EXERCISES)
    unsolved = [label for label, (_, kind) in EXERCISES.items() if not kind]
    assert not unsolved, f"exercises without a solution cell: {unsolved}"


def test_every_label_is_an_exercise_of_a_notebook():
    unknown = (set(RUBRICS) | set(DIFFICULTY)) - set(EXERCISES)
    assert not unknown, f"not an exercise label in book/*.ipynb: {unknown}"


def test_rubrics_are_keyed_by_their_label():
    for label, rubric in RUBRICS.items():
        assert rubric.label == label


def test_every_pen_and_paper_exercise_has_a_rubric():
    missing = PEN - set(RUBRICS)
    assert not missing, f"pen-and-paper exercises without a rubric: {missing}"


def test_no_coding_exercise_has_a_rubric():
    graded_twice = CODING & set(RUBRICS)
    assert not graded_twice, f"coding exercises with a rubric: {graded_twice}"


def test_every_exercise_has_a_difficulty():
    missing = set(EXERCISES) - set(DIFFICULTY)
    assert not missing, f"exercises without a difficulty: {missing}"


@pytest.mark.parametrize("label", sorted(RUBRICS))
def test_points_are_positive_and_total_three_to_eight(label):
    rubric = RUBRICS[label]
    assert rubric.criteria, f"{label} has no criteria"
    for criterion in rubric.criteria:
        assert type(criterion.points) is int and criterion.points > 0
    assert rubric.points == sum(c.points for c in rubric.criteria)
    assert 3 <= rubric.points <= 8, f"{label} totals {rubric.points}"


@pytest.mark.parametrize("label", sorted(RUBRICS))
def test_each_common_error_says_what_it_costs(label):
    rubric = RUBRICS[label]
    assert rubric.common_errors, f"{label} lists no common errors"
    for error in rubric.common_errors:
        cost = COST.search(error)
        assert cost, f"{label}: no cost ': −N' at the end of {error!r}"
        assert 0 < int(cost["points"]) <= rubric.points


def parts(text):
    """The parts a text starts its lines with: "(a)", "(b)", … or "1.",
    "2.", … (a numbered list)."""
    return set(re.findall(r"^(\([a-z]\)|\d\.) ", text, flags=re.MULTILINE))


@pytest.mark.parametrize("label", sorted(RUBRICS))
def test_each_part_of_the_exercise_has_its_own_criteria(label):
    asked = parts(STATEMENTS[label])
    graded = set().union(*(parts(c.text) for c in RUBRICS[label].criteria))
    assert graded == asked, f"{label} asks {asked}, grades {graded}"


def test_levels_are_one_two_or_three():
    assert set(LEVELS) == {1, 2, 3}
    for label, difficulty in DIFFICULTY.items():
        assert difficulty.level in (1, 2, 3), label


def test_each_why_is_one_sentence():
    for label, difficulty in DIFFICULTY.items():
        why = difficulty.why
        assert why[0].isupper() and why.endswith("."), label
        assert ". " not in why, f"{label}: more than one sentence"


@pytest.mark.parametrize("where, text", list(texts()))
def test_texts_are_plain_text_with_unicode_math(where, text):
    assert text.strip() == text and text, where
    assert "$" not in text, f"{where}: TeX math in {text!r}"
    assert not TEX.search(text), f"{where}: a TeX command in {text!r}"
    assert not ROLE.search(text), f"{where}: a MyST role in {text!r}"
    assert ":::" not in text, f"{where}: a MyST directive in {text!r}"


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="positive whole number"):
        Criterion(0, "nothing")
    with pytest.raises(ValueError, match="positive whole number"):
        Criterion(1.5, "half a point")
    with pytest.raises(ValueError, match="difficulty level"):
        Difficulty(4, "Too hard.")


def test_records_are_frozen():
    rubric = Rubric("ex-x", (Criterion(2, "a"), Criterion(1, "b")))
    assert rubric.points == 3
    with pytest.raises(AttributeError):
        rubric.label = "ex-y"
