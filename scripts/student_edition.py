"""Write the student edition and the Colab copies of the book's chapters.

Colab copies, ``colab/<chapter>.ipynb`` for every notebook of _toc.yml:
the book's cells with their markdown rewritten from MyST (directives and
roles, which only the book's site renders) to the Markdown and LaTeX that
Jupyter and Colab render (see ``to_markdown``): exercises become
headings, admonitions and algorithms block quotes, numbered equations
carry ``\\tag{k}``, cross-references and citations become plain text,
glued values are named (``glue`` prints them under their cell), and a
pen-and-paper solution folds into a ``<details>`` block. The book's Colab
launch button opens these (``book/_ext/colab_copies.py``).

Student edition, ``student/<chapter>.ipynb`` for every chapter that holds
exercises (cells with nbgrader solution metadata), converted the same way
and then

- code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``raise NotImplementedError()`` (the checks then say "not written yet");
- hidden tests (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``)
  are removed, leaving the graded cell for nbgrader;
- a pen-and-paper solution becomes an empty answer cell, which nbgrader
  collects as a manually graded answer (points: the exercise's rubric in
  ``ddpm_book/rubrics.py``);
- a cell that displays an answer's source (tagged ``library-source``, or
  ``show_source`` of a function in ``ex.answer_names()``) becomes a
  one-line note;
- outputs and execution counts are cleared;
- a note under the title says how to keep the work in Colab and hand it
  in.

student/README.md lists the notebooks with links that open them in Colab.
``scripts/course.py`` builds an instructor's nbgrader course from the
same pieces.

Usage:
    python scripts/student_edition.py          # write student/ and colab/
    python scripts/student_edition.py --check  # exit 1 if out of date
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import unicodedata
from pathlib import Path
from typing import NamedTuple

import nbformat

from ddpm_book import exercises as ex
from ddpm_lib import project

ROOT = Path(__file__).resolve().parents[1]
BOOK, STUDENT, COLAB = ROOT / "book", ROOT / "student", ROOT / "colab"

SOLUTION = re.compile(
    r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*\n?",
    re.M | re.S,
)
HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?",
    re.M | re.S,
)
SOLUTION_MARKDOWN = re.compile(r"\{solution(-start|-end)?\}")
HIDDEN_NOTE = (
    "# Hidden tests run here when your instructor grades the notebook."
)
OUTPUT_TAGS = {"nbval-check-output", "nbval-ignore-output"}


def has_exercises(nb) -> bool:
    return any(
        c.metadata.get("nbgrader", {}).get("solution") for c in nb.cells
    )


# A cell that only displays library source: ``show_source(dl.q_sample)``.
SHOW_SOURCE = re.compile(r"show_source\((?P<name>[\w.]+)\)")
# A pen-and-paper solution: ``:::{solution} <label>`` (not the gated
# ``{solution-start}``, whose solution is the code cell that follows).
PEN_SOLUTION = re.compile(r"^(:{3,}|`{3,})\{solution\}[ \t]*(?P<label>\S+)")
ANSWER_PROMPT = (
    "*Double-click this cell and write your answer here; math goes "
    "between dollar signs, as in* `$\\bar\\alpha_t$`."
)


def displayed_sources(cell) -> list[str]:
    """The names a code cell shows the source of (``show_source(x)``)."""
    if cell.cell_type != "code":
        return []
    return [m["name"] for m in SHOW_SOURCE.finditer(cell.source)]


def gives_answer_away(cell, answers: frozenset[str]) -> bool:
    """True when the cell displays an exercise's answer: it is tagged
    ``library-source``, or it shows the source of a function in
    ``answers`` (last dotted parts, see ``ex.answer_names``)."""
    if "library-source" in cell.metadata.get("tags", []):
        return True
    return any(
        n.rpartition(".")[2] in answers or n in answers
        for n in displayed_sources(cell)
    )


def without_display(cell):
    """The code of a cell that shows an answer, less the display (an
    import beside it, say), as a cell; None if nothing else is there."""
    rest = SHOW_SOURCE.sub("", cell.source)
    lines = [line for line in rest.splitlines() if line.strip()]
    if not lines or cell.cell_type != "code":
        return None
    cell = copy.deepcopy(cell)
    cell.source = "\n".join(lines)
    tags = [t for t in cell.metadata.get("tags", []) if t != "library-source"]
    cell.metadata["tags"] = tags
    return student_cell(cell)


def leak_note(cell) -> nbformat.NotebookNode:
    """What stands in a student copy where the book shows an answer."""
    names = displayed_sources(cell) or ["this code"]
    shown = ", ".join(f"`{n}`" for n in names)
    note = nbformat.v4.new_markdown_cell(
        f"*Here the book shows the source of {shown}. This copy leaves it "
        "out: it would give an exercise's answer away.*"
    )
    note.id = f"{cell.get('id', 'source')}-note"  # stable across runs
    return note


def answer_cell(label: str, title: str, points: int, text: str):
    """An nbgrader "manually graded answer" cell for a pen-and-paper
    exercise; ``text`` is what it holds (the prompt, or the model answer
    in an instructor's source notebook)."""
    cell = nbformat.v4.new_markdown_cell(f"**Your answer: {title}**\n\n{text}")
    cell.id = f"answer-{label}"[:64]  # stable across runs
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": f"answer-{label}",
        "locked": False,
        "points": points,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    return cell


def student_cell(cell):
    """The student version of one cell, or None to drop it (a solution
    dropdown, or a cell tagged ``library-source``). ``handout`` replaces
    pen-and-paper solutions and displays of an answer before this runs.
    """
    tags = cell.metadata.get("tags", [])
    if "library-source" in tags:
        return None
    if cell.cell_type == "markdown" and SOLUTION_MARKDOWN.search(cell.source):
        return None
    cell = copy.deepcopy(cell)
    if cell.cell_type != "code":
        return cell
    source = SOLUTION.sub(
        lambda m: f"{m.group(1)}raise NotImplementedError()\n", cell.source
    )
    without_hidden = HIDDEN.sub("", source)
    if without_hidden != source and not without_hidden.strip():
        without_hidden = HIDDEN_NOTE
    cell.source = without_hidden.rstrip("\n")
    cell.outputs = []
    cell.execution_count = None
    cell.metadata.pop("keep_output", None)
    kept = [t for t in tags if t not in OUTPUT_TAGS]
    if kept:
        cell.metadata["tags"] = kept
    else:
        cell.metadata.pop("tags", None)
    return cell


# ---------------------------------------------------------------------------
# MyST → Markdown for Jupyter and Colab.
#
# The book's markdown cells use MyST: directives in ``:::{name}`` (or
# ```` ```{name} ````) fences and roles like ``{eq}`label```, which only
# the site renders. The student copies are read in Jupyter and Colab,
# which show them as raw text, so every directive and role is rewritten
# here, and one this code does not know stops the script.

# A fenced directive: the fence, ``{name} argument``, ``:key: value``
# options, the body, and the same fence closing it.
DIRECTIVE = re.compile(
    r"^(?P<fence>:{3,}|`{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>[^\n]*)\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)"
    r"(?P<body>.*?)^(?P=fence)[ \t]*$\n?",
    re.M | re.S,
)
# A role, ``{name}`content```; the content may be ``text <target>``.
ROLE = re.compile(r"\{(?P<name>[\w:-]*)\}`(?P<content>[^`]*)`")
EXPLICIT = re.compile(r"(?P<text>.*?)\s*<(?P<target>[^<>]+)>", re.S)
# A numbered equation, ``$$ … $$ (label)``.
EQUATION = re.compile(
    r"\$\$(?P<math>.+?)\$\$[ \t]*\((?P<label>[\w:-]+)\)", re.S
)
# A cross-reference target, ``(label)=`` on a line of its own.
TARGET = re.compile(r"^\((?P<label>[\w:-]+)\)=[ \t]*\n", re.M)
HEADING = re.compile(r"^#+[ \t]+(.+)$", re.M)

ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
}
# A glued value is known only once the cell that glues it has run. In
# Jupyter and Colab ``ddpm_book.notebook.glue`` prints it under its cell
# as ``name = value``, and the text names it: "floor is `floor_bpd`".
GLUE_NOTE = (
    "Numbers that the code computes appear in this copy's text by name, "
    "like `{name}`; the cell that computes one prints it as "
    "`{name} = …` once it has run."
)


class BookIndex(NamedTuple):
    """What converting one chapter needs to know about the whole book."""

    titles: dict[str, str]  # chapter name (file stem) → its "# " title
    equations: dict[str, tuple[str, int]]  # label → (chapter, number)
    names: dict[str, str]  # exercise, algorithm or section label → name
    references: dict[str, tuple[str, str]]  # BibTeX key → (authors, year)


def markdown_cells(path: Path) -> list[str]:
    """The markdown of a book page, as the student edition keeps it."""
    if path.suffix == ".md":
        return [path.read_text()]
    nb = nbformat.read(path, as_version=4)
    kept = [student_cell(c) for c in nb.cells if c.cell_type == "markdown"]
    return [c.source for c in kept if c is not None]


def book_index(book: Path = BOOK) -> BookIndex:
    """Titles, equation numbers, labels and references of the book."""
    titles, equations, names = {}, {}, {}
    pages = sorted(book.glob("*.ipynb")) + sorted(book.glob("*.md"))
    for path in pages:
        cells = markdown_cells(path)
        text = "\n\n".join(cells)
        title = HEADING.search(text)
        titles[path.stem] = title.group(1).strip() if title else path.stem
        # Numbered like the student copy: labelled equations in order.
        labels = [m.group("label") for m in EQUATION.finditer(text)]
        for number, label in enumerate(labels, start=1):
            equations[label] = (path.stem, number)
        for m in DIRECTIVE.finditer(text):
            label = re.search(r"^[ \t]*:label:[ \t]*(\S+)", m["options"], re.M)
            if label:
                names[label.group(1)] = m["arg"].strip()
        for m in TARGET.finditer(text):
            heading = HEADING.match(text, m.end())
            if heading:
                names[m["label"]] = heading.group(1).strip()
    bib = book / "references.bib"
    references = parse_bibtex(bib.read_text()) if bib.is_file() else {}
    return BookIndex(titles, equations, names, references)


def parse_bibtex(text: str) -> dict[str, tuple[str, str]]:
    """Key → (authors as cited, year) for each entry of a BibTeX file.

    Authors as cited: "Ho", "Nichol and Dhariwal", "Ho et al."; enough for
    the entries of references.bib, not a full BibTeX parser.
    """
    found = {}
    for entry in re.split(r"^@", text, flags=re.M)[1:]:
        key = re.match(r"\w+\{([^,\s]+),", entry)
        author = re.search(r"^\s*author\s*=\s*\{(.*)\},?\s*$", entry, re.M)
        year = re.search(r"^\s*year\s*=\s*\{?(\d{4})", entry, re.M)
        if not (key and author and year):
            raise ValueError(f"BibTeX entry without author or year: @{entry}")
        surnames = [
            latex_to_unicode(name.split(",")[0]).strip("{} ")
            for name in re.split(r"\s+and\s+", author.group(1))
        ]
        if len(surnames) == 1:
            cited = surnames[0]
        elif len(surnames) == 2:
            cited = f"{surnames[0]} and {surnames[1]}"
        else:
            cited = f"{surnames[0]} et al."
        found[key.group(1)] = (cited, year.group(1))
    return found


# LaTeX accents in BibTeX names, as Unicode combining marks: {\'n} → ń.
ACCENTS = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302"}
ACCENTS |= {"~": "\u0303", "c": "\u0327", "v": "\u030c", "u": "\u0306"}
LETTERS = {"l": "ł", "L": "Ł", "o": "ø", "O": "Ø", "ss": "ß", "i": "ı"}


def latex_to_unicode(text: str) -> str:
    """A BibTeX name in Unicode: ``Bi{\\'n}kowski`` → ``Bińkowski``."""
    text = re.sub(
        r"\{?\\([`'\"^~cvu])\{?(\w)\}?\}?",
        lambda m: m.group(2) + ACCENTS[m.group(1)],
        text,
    )
    text = re.sub(
        r"\{?\\(ss|[lLoOi])\}?(?![a-zA-Z])",
        lambda m: LETTERS[m.group(1)],
        text,
    )
    return unicodedata.normalize("NFC", text.replace("{", "").replace("}", ""))


def blockquote(title: str, body: str) -> str:
    """``> **Title.** body`` (the title alone above a list or math)."""
    body = body.strip()
    if body and not re.match(r"([-*+]|\d+\.|\$\$|\||#|>|```)", body):
        lines = f"{title} {body}".splitlines()
    else:
        lines = [title, ""] + body.splitlines()
    return "\n".join(f"> {line}".rstrip() for line in lines) + "\n"


def lookup(table: dict, key: str, what: str):
    """``table[key]``, or an error that says what is missing."""
    if key not in table:
        raise ValueError(f"no {what} {key!r} in book/")
    return table[key]


def directive_markdown(m: re.Match, chapter: str, index: BookIndex) -> str:
    """The Markdown for one MyST directive."""
    name, arg = m["name"], m["arg"].strip()
    body = convert_directives(m["body"], chapter, index).strip()
    if name in ("exercise", "exercise-start"):
        heading = f"### Exercise: {arg}" if arg else "### Exercise"
        return f"{heading}\n\n{body}\n" if body else f"{heading}\n"
    if name == "exercise-end":
        return ""
    if name in ADMONITIONS:
        return blockquote(f"**{ADMONITIONS[name]}.**", body)
    if name == "admonition":
        return blockquote(f"**{arg.rstrip('.')}.**", body)
    if name == "container":  # a styling wrapper: its body alone
        return f"{body}\n"
    if name == "prf:algorithm":
        return blockquote(f"**{arg}**", body)
    raise ValueError(
        f"{chapter}: no Markdown for the directive {{{name}}}; "
        "add it to directive_markdown in scripts/student_edition.py"
    )


def convert_directives(text: str, chapter: str, index: BookIndex) -> str:
    return DIRECTIVE.sub(lambda m: directive_markdown(m, chapter, index), text)


def equation_markdown(m: re.Match, chapter: str, index: BookIndex) -> str:
    """``$$ … $$ (label)`` → ``$$ … \\tag{k} $$``."""
    where, number = lookup(index.equations, m["label"], "equation")
    if where != chapter:
        raise ValueError(f"{chapter}: equation {m['label']} is in {where}")
    math = m["math"]
    end = "\n" if math.endswith("\n") else " "
    return f"$${math.rstrip()} \\tag{{{number}}}{end}$$"


def citation(keys: str, index: BookIndex, *, textual: bool) -> str:
    """{cite:p} → (Ho et al., 2020; …); {cite:t} → Ho et al. (2020)."""
    cited = [
        lookup(index.references, key.strip(), "reference")
        for key in keys.split(",")
    ]
    if textual:
        return "; ".join(f"{who} ({year})" for who, year in cited)
    return "(" + "; ".join(f"{who}, {year}" for who, year in cited) + ")"


def role_markdown(m: re.Match, chapter: str, index: BookIndex) -> str:
    """The Markdown for one MyST role."""
    name, content = m["name"], m["content"]
    explicit = EXPLICIT.fullmatch(content)
    text, target = (
        (explicit["text"], explicit["target"]) if explicit else ("", content)
    )
    if name == "eq":
        where, number = lookup(index.equations, target, "equation")
        if where == chapter:
            return f"({number})"
        return f"(equation {number} of the chapter *{index.titles[where]}*)"
    if name == "doc":
        title = f"*{lookup(index.titles, target, 'chapter')}*"
        return f"{text} ({title})" if text else title
    if name in ("ref", "prf:ref"):
        return text or lookup(index.names, target, "label")
    if name in ("cite:p", "cite:t", "cite"):
        return citation(content, index, textual=name == "cite:t")
    if name in ("glue", "glue:", "glue:text", "glue:any"):
        return f"`{content.partition(':')[0]}`"
    raise ValueError(
        f"{chapter}: no Markdown for the role {{{name}}}; "
        "add it to role_markdown in scripts/student_edition.py"
    )


def to_markdown(text: str, chapter: str, index: BookIndex) -> str:
    """One markdown cell of ``chapter`` in Markdown that Jupyter renders.

    Raises:
        ValueError: for a directive or role this function does not know,
            or a reference to a label, chapter or citation that the book
            does not define.
    """
    text = TARGET.sub("", text)
    text = convert_directives(text, chapter, index)
    text = EQUATION.sub(lambda m: equation_markdown(m, chapter, index), text)
    text = ROLE.sub(lambda m: role_markdown(m, chapter, index), text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def first_glued(nb) -> str | None:
    """The name of the first value a notebook's text glues, if any."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"\{glue[\w:]*\}`([^`:]+)", cell.source)
            if m:
                return m.group(1)
    return None


def opening_note(nb, lines: list[str]) -> None:
    """Put ``lines`` (and the glue note) in a block quote after the title."""
    glued = first_glued(nb)
    if glued:
        lines = [*lines, GLUE_NOTE.format(name=glued)]
    if lines:
        text = "\n>\n".join(f"> {line}" for line in lines)
        note = nbformat.v4.new_markdown_cell(text)
        note.id = "opening-note"  # stable across runs
        nb.cells.insert(1, note)


def pen_solution(cell) -> str | None:
    """The label of a pen-and-paper solution cell, or None."""
    if cell.cell_type != "markdown":
        return None
    m = PEN_SOLUTION.match(cell.source)
    return m["label"] if m else None


def solution_body(cell, chapter: str, index: BookIndex) -> str:
    """A pen-and-paper solution's text, as Markdown."""
    m = DIRECTIVE.search(cell.source)
    return to_markdown(m["body"], chapter, index)


def exercise_points(label: str) -> int:
    """The points of a pen-and-paper exercise: its rubric's total."""
    from ddpm_book.rubrics import RUBRICS

    return lookup(RUBRICS, label, "rubric (ddpm_book/rubrics.py) for").points


def handout(nb, chapter: str, index: BookIndex, *, instructor: bool):
    """A chapter as handed out, with its markdown converted: displays of
    an answer's source replaced by a note, pen-and-paper solutions by
    nbgrader answer cells, other cells as ``student_cell`` leaves them.

    With ``instructor``, the nbgrader source of the hand-out instead: the
    answer cells hold the model answer, and code cells keep their
    solutions and hidden tests (outputs cleared), for nbgrader to take
    out.
    """
    answers = ex.answer_names()
    cells = []
    for cell in nb.cells:
        label = pen_solution(cell)
        if label:
            text = (
                solution_body(cell, chapter, index)
                if instructor
                else ANSWER_PROMPT
            )
            title = lookup(index.names, label, "exercise")
            cells.append(
                answer_cell(label, title, exercise_points(label), text)
            )
        elif gives_answer_away(cell, answers):
            cells.append(leak_note(cell))
            rest = without_display(cell)
            if rest is not None:
                cells.append(rest)
        elif instructor and cell.cell_type == "code":
            kept = copy.deepcopy(cell)
            kept.outputs, kept.execution_count = [], None
            kept.metadata.pop("keep_output", None)
            cells.append(kept)
        else:
            kept = student_cell(cell)
            if kept is not None:
                if kept.cell_type == "markdown":
                    kept.source = to_markdown(kept.source, chapter, index)
                cells.append(kept)
    nb = copy.deepcopy(nb)
    nb.cells = cells
    return nb


def student_notebook(nb, chapter: str, index: BookIndex):
    """The student edition of a notebook (a copy; ``nb`` is unchanged).

    ``chapter`` is the notebook's name in book/ (its file stem), which
    equation references are resolved against.
    """
    nb = handout(nb, chapter, index, instructor=False)
    opening_note(nb, [HANDOUT_NOTE])
    return nb


def colab_notebook(nb, chapter: str, index: BookIndex):
    """A chapter as Jupyter and Colab render it: the book's cells, code
    and solutions included, with its markdown converted from MyST; a
    pen-and-paper solution becomes a ``<details>`` block, which both
    show folded."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if pen_solution(cell):
                body = solution_body(cell, chapter, index)
                cell.source = (
                    f"<details>\n<summary>Solution</summary>\n\n{body}\n\n"
                    "</details>"
                )
            elif re.match(r":{3,}\{solution-end\}", cell.source):
                continue
            elif re.match(r":{3,}\{solution-start\}", cell.source):
                cell.source = "**Solution** (the code below):"
            else:
                cell.source = to_markdown(cell.source, chapter, index)
        cells.append(cell)
    nb.cells = cells
    opening_note(nb, [])
    return nb


# At the top of every student copy, under the title.
HANDOUT_NOTE = (
    "**Before you start.** On Colab, keep your work: *File › Save a copy in "
    "Drive*, and work in that copy. Write each coding exercise where it "
    "reads `raise NotImplementedError()`; the cell under it checks your "
    "function and says what is wrong. Write the pen-and-paper answers in "
    "the cells headed *Your answer*. To hand in, *File › Download › "
    "Download .ipynb* and submit that file as your instructor asks."
)


def readme(paths: list[Path]) -> str:
    rows = "\n".join(
        f"| {p.stem} | [open in Colab]"
        f"({project.colab_url(p.relative_to(ROOT).as_posix())}) |"
        for p in paths
    )
    return f"""# Student edition

Exercise notebooks of the book with the solutions taken out: each
exercise cell reads `raise NotImplementedError()` until you write it, and
the check below it then says it is unfinished, so "Run all" still runs the
whole notebook. Each pen-and-paper exercise has a cell headed *Your
answer* for the derivation. Library source that would give an answer away
is left out. Generated by `python scripts/student_edition.py` from
`book/` (do not edit these copies: edit the book and run it again).

| notebook | |
|---|---|
{rows}

On Colab, save a copy in Drive before you start (*File › Save a copy in
Drive*); to hand in, download it (*File › Download › Download .ipynb*).

Instructors: `python scripts/course.py` writes an nbgrader course from
`book/` (solutions, hidden tests and rubrics included); the book's page
*Teaching with this book* says how to run a class with it.
"""


def expected_files() -> dict[Path, str]:
    """Every file of student/ and colab/, by path."""
    files = {}
    index = book_index()
    chapters = toc_notebooks()
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        colab = colab_notebook(nb, path.stem, index)
        files[COLAB / path.name] = nbformat.writes(colab) + "\n"
        if has_exercises(nb):
            student = student_notebook(nb, path.stem, index)
            files[STUDENT / path.name] = nbformat.writes(student) + "\n"
    files[STUDENT / "README.md"] = readme(
        sorted(p for p in files if p.parent == STUDENT)
    )
    files[COLAB / "README.md"] = COLAB_README
    return files


def toc_notebooks() -> list[Path]:
    """The book's notebooks, in the order of _toc.yml."""
    toc = (ROOT / "_toc.yml").read_text()
    names = re.findall(r"^\s*-?\s*(?:root|file):\s*(\S+)", toc, re.M)
    paths = [ROOT / f"{name.removesuffix('.ipynb')}.ipynb" for name in names]
    return [p for p in paths if p.is_file()]


COLAB_README = """# Colab copies of the chapters

Every chapter of the book as a notebook that Jupyter and Colab render:
the same cells as `book/`, with the book's MyST markup (exercises,
admonitions, numbered equations, cross-references) turned into plain
Markdown and LaTeX. The book's *Colab* launch button opens these.
Generated by `python scripts/student_edition.py`; do not edit them.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that student/ and colab/ are up to date (exit 1 "
        "if not)",
    )
    args = parser.parse_args(argv)
    files = expected_files()
    stale = [
        p
        for p, text in files.items()
        if not p.is_file() or p.read_text() != text
    ]
    extra = [
        p
        for folder in (STUDENT, COLAB)
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file() and p not in files
    ]
    if args.check:
        if stale or extra:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale + extra)
            print(
                f"The student edition or the Colab copies are out of date "
                f"({names}). Run: python scripts/student_edition.py",
                file=sys.stderr,
            )
            return 1
        print("The student edition and the Colab copies are up to date.")
        return 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
    for path in extra:
        path.unlink()
    print(
        f"Wrote {len(stale)} file(s), removed {len(extra)} in student/ and "
        "colab/."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
