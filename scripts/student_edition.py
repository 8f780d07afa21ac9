"""Write the student edition of the book's exercise notebooks.

For every notebook under book/ that holds exercises (cells with nbgrader
solution metadata), a copy goes to student/ in which

- code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``raise NotImplementedError()`` (the checks then say "not written yet");
- hidden tests (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``)
  are removed, leaving the graded cell for nbgrader;
- cells tagged ``library-source`` and the solution dropdowns are dropped;
- outputs and execution counts are cleared;
- markdown cells are rewritten from MyST (directives and roles, which
  only the book's site renders) to the Markdown and LaTeX that Jupyter
  and Colab render: exercises become headings, admonitions and
  algorithms block quotes, numbered equations carry ``\\tag{k}``, and
  cross-references, citations and glued values become plain text
  (see ``to_markdown``).

student/README.md lists the notebooks with links that open them in Colab.

Usage:
    python scripts/student_edition.py          # write student/
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

from ddpm_lib import project

ROOT = Path(__file__).resolve().parents[1]
BOOK, STUDENT = ROOT / "book", ROOT / "student"

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


def student_cell(cell):
    """The student version of one cell, or None to drop it."""
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
# A glued value is known only once the cell that glues it has run; in the
# book's chapters most are glued with show=False, so Jupyter never shows
# them. The text says where the value comes from instead.
GLUED = "*(value from the code)*"


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
        return GLUED
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


def student_notebook(nb, chapter: str, index: BookIndex):
    """The student edition of a notebook (a copy; ``nb`` is unchanged).

    ``chapter`` is the notebook's name in book/ (its file stem), which
    equation references are resolved against.
    """
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in map(student_cell, nb.cells) if c is not None]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = to_markdown(cell.source, chapter, index)
    return nb


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
whole notebook. Generated by `python scripts/student_edition.py` from
`book/` (do not edit these copies: edit the book and run it again).

| notebook | |
|---|---|
{rows}

Instructors: the notebooks carry nbgrader metadata; the source versions in
`book/` hold the solutions and hidden tests.
"""


def expected_files() -> dict[Path, str]:
    files = {}
    index = book_index()
    for path in sorted(BOOK.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if has_exercises(nb):
            target = STUDENT / path.relative_to(BOOK)
            student = student_notebook(nb, path.stem, index)
            files[target] = nbformat.writes(student) + "\n"
    files[STUDENT / "README.md"] = readme(
        [p for p in files if p.suffix == ".ipynb"]
    )
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that student/ is up to date (exit 1 if not)",
    )
    args = parser.parse_args(argv)
    files = expected_files()
    stale = [
        p
        for p, text in files.items()
        if not p.is_file() or p.read_text() != text
    ]
    extra = (
        [p for p in STUDENT.rglob("*") if p.is_file() and p not in files]
        if STUDENT.is_dir()
        else []
    )
    if args.check:
        if stale or extra:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale + extra)
            print(
                f"The student edition is out of date ({names}). "
                "Run: python scripts/student_edition.py",
                file=sys.stderr,
            )
            return 1
        print("The student edition is up to date.")
        return 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
    for path in extra:
        path.unlink()
    print(f"Wrote {len(stale)} file(s), removed {len(extra)} in student/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
