"""What a reader sees in the chapters' text, checked on the notebooks.

Four rules that once failed on the built site:

- a line inside inline math never starts like a list item ("- ", "+ ",
  "1. "): Markdown would end the paragraph there and the math on both
  sides would reach the page as raw TeX;
- an equation label is a cross-reference target, never text: outside its
  definition and {eq} roles it would reach the reader as "(fwd-reparam)";
- the paper's equations are always "Ho et al. Eq. 4", so they cannot be
  confused with a page's own numbered equations (which are referred to
  only through {eq} roles, rendered as links);
- a computed quantity quoted in prose comes from a cell (glue) or a
  result file. What still stands typed in a markdown cell (a worked
  solution's arithmetic, a rounded value) is registered in
  ``prose_numbers.TYPED`` with the computation that backs it, and that
  computation must agree with the typed text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prose_numbers import TYPED

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))

# `$$ ... $$ (label)`: a dollarmath equation label.
EQ_LABEL = re.compile(r"\$\$[ \t]*\(([A-Za-z0-9:_-]+)\)")
# "Eq. 4", "Eqs. (6)–(7)", "Eq. (fwd-x0)".
EQ_TEXT = re.compile(r"\bEqs?\.\s*\(?([0-9A-Za-z][\w-]*)")
PAPER = re.compile(
    r"(?:(?:Ho|Song) et al\.(?: \(20\d\d\))?"
    r"|\{cite:t\}`(?:ho2020ddpm|song2021ddim)`)(?:'s)?,?\s*$"
)

# Number phrases that claim a computed quantity: an approximation, a
# ratio, a share or a measurement.
NUMBER = r"[-−]?\d(?:[\d.,]*\d)?(?:\s*(?:\\cdot|\\times|×)\s*10\^\{?-?\d+\}?)?"
QUANTITY = re.compile(
    rf"(?:\babout|\broughly|\bnearly|\balmost|≈|\\approx)\s*\$?\s*\(?{NUMBER}"
    rf"|\d(?:[\d.,]*\d)?\s*(?:×|\\times)(?!\s*\d)"  # not "96 × 96"
    r"|\d(?:[\d.,]*\d)?\s*(?:%|\\%|bits/dim\b|seconds\b|minutes\b|s\b|ms\b)"
    r"|\b(?:half|a third|three quarters|a quarter)\b",
)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _prose(cell: dict) -> str:
    """A markdown cell without glue roles and inline code."""
    text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", "glued", _source(cell))
    return re.sub(r"`[^`\n]*`", "code", text)


def _labels() -> set[str]:
    return {
        label
        for path in CHAPTERS
        for cell in _cells(path)
        if cell["cell_type"] == "markdown"
        for label in EQ_LABEL.findall(_source(cell))
    }


def quantity_phrases(text: str) -> list[re.Match]:
    return list(QUANTITY.finditer(text))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_equation_labels_are_never_shown_as_text(path):
    labels = _labels()
    assert labels, "no equation labels found: has the syntax changed?"
    leaks = []
    for index, cell in enumerate(_cells(path)):
        text = _source(cell)
        text = EQ_LABEL.sub("", text)
        text = re.sub(r"\{eq\}`[^`]*`", "", text)
        # Labels of sections and figures, `(name)=`, are targets too.
        text = re.sub(r"^\([\w-]+\)=$", "", text, flags=re.M)
        for label in labels:
            if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", text):
                leaks.append(f"cell {index}: {label}")
    assert not leaks, f"{path.name} shows equation labels as text: {leaks}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_papers_equations_are_named_as_the_papers(path):
    bad = []
    for index, cell in enumerate(_cells(path)):
        text = _source(cell)
        for match in EQ_TEXT.finditer(text):
            before = text[max(0, match.start() - 40) : match.start()]
            if not match.group(1)[0].isdigit():
                bad.append(f"cell {index}: {match.group(0)!r} (a label)")
            elif not PAPER.search(before):
                bad.append(f"cell {index}: {before[-20:]}{match.group(0)!r}")
    assert not bad, (
        f"{path.name}: write the paper's equations as 'Ho et al. Eq. N' and "
        f"refer to the page's own with {{eq}} roles: {bad}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_quantities_in_prose_are_glued_or_registered(path):
    registered = TYPED.get(path.stem, [])
    unbacked = []
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "markdown":
            continue
        text = _prose(cell)
        spans = [
            (m.start(), m.end())
            for entry in registered
            for m in re.finditer(re.escape(entry.text), text)
        ]
        for hit in quantity_phrases(text):
            if not any(a <= hit.start() and hit.end() <= b for a, b in spans):
                context = text[max(0, hit.start() - 30) : hit.end() + 10]
                unbacked.append(f"cell {index}: …{context}…")
    assert not unbacked, (
        f"{path.name}: glue these numbers from a cell (ddpm_book.notebook."
        f"glue) or register them in tests/prose_numbers.py: {unbacked}"
    )


ENTRIES = [(chapter, e) for chapter, es in TYPED.items() for e in es]


@pytest.mark.parametrize(
    "chapter,entry", ENTRIES, ids=[f"{c}:{e.text[:30]}" for c, e in ENTRIES]
)
def test_registered_numbers_stand_in_the_text_and_are_true(chapter, entry):
    path = BOOK / f"{chapter}.ipynb"
    prose = [_prose(c) for c in _cells(path) if c["cell_type"] == "markdown"]
    assert any(entry.text in text for text in prose), (
        f"{entry.text!r} is no longer in {path.name}: remove its entry"
    )
    entry.check()


def test_the_detector_catches_typed_quantities():
    for typed in [
        "three quarters of the steps",
        r"$\bar\alpha_T \approx 0.13$",
        "about 2.2 β_t",
        "a 2.2× speed-up",
        "in 1.4 minutes",
        "0.32 bits/dim",
        "12 %",
    ]:
        assert quantity_phrases(typed), typed
    for fine in [r"$96 \times 96$ pixels", "T = 1000 steps", "{eq}`x`"]:
        assert not quantity_phrases(fine), fine


# Directives whose body is code or TeX, not markdown.
CODE_FENCES = ("{code", "{math", "{literalinclude", "{raw")
LIST_MARKER = re.compile(r"^\s*(?:[-+*]|\d+[.)])(?:\s|$)")


def list_markers_inside_math(text: str) -> list[str]:
    """Lines that continue an open inline $...$ but start like a list item.

    Markdown reads such a line as a new bullet, and the math on both sides
    reaches the page as raw TeX.
    """
    bad, display, inline = [], False, False
    fences = []  # open fences, innermost last: True where the body is code
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            if fences and stripped in ("```", "~~~"):
                fences.pop()
            else:  # a directive's body ({prf:algorithm}, ...) is markdown
                name = stripped.lstrip("`~")
                fences.append(
                    not name.startswith("{") or name.startswith(CODE_FENCES)
                )
            continue
        if fences and fences[-1]:
            continue
        if stripped.startswith("$$"):
            display ^= not (stripped.count("$$") >= 2 and stripped != "$$")
            continue
        if display:
            continue
        if not stripped:
            inline = False  # a blank line ends the paragraph
            continue
        if inline and LIST_MARKER.match(line):
            bad.append(line)
        body = re.sub(r"`[^`]*`", "", line).replace("\\$", "")
        inline ^= body.count("$") % 2 == 1
    return bad


def test_the_detector_of_stray_list_items():
    broken = "Then $a = b\n- c$ and more."
    assert list_markers_inside_math(broken) == ["- c$ and more."]
    assert list_markers_inside_math("- item $a\n  + b$") == ["  + b$"]
    fine = "- item $a\n  \\;+ b$\n\n$$\n- x\n$$ (label)\n1. next"
    assert list_markers_inside_math(fine) == []
    algorithm = "```{prf:algorithm} A\n4. $x = (a\n   - b)$\n```"
    assert list_markers_inside_math(algorithm) == ["   - b)$"]
    code = "```python\nx = $a\n- b\n```\n```{code-cell}\n$a\n- b\n```"
    assert list_markers_inside_math(code) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_math_line_starts_like_a_list_item(path):
    bad = [
        f"cell {i}: {line!r}"
        for i, cell in enumerate(_cells(path))
        if cell["cell_type"] == "markdown"
        for line in list_markers_inside_math("".join(cell["source"]))
    ]
    assert not bad, f"a line inside $...$ reads as a list item: {bad}"
