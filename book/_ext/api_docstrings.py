"""Read ddpm_lib's docstrings as plain text where they write shapes.

The library's docstrings are Google style for a reader of the source:
shapes are written ``(B, *S)`` and keyword arguments ``**changes``, with
no reStructuredText escapes. To Sphinx a lone ``*`` (or ``**``) before a
word opens emphasis (or strong emphasis), and an unclosed one is a warning
— an error in the book's ``-W`` build. This extension escapes such stars,
only where no closing star follows on the same line, before autodoc hands
the docstring to reStructuredText. The library's source stays as written.

The docstrings also write math as Unicode text, with braces where a
subscript has more than one character: ``ᾱ_{t−1}``, ``∏_{s≤t}``. Left as
prose, that reads as TeX that failed to typeset (and the site's browser
check reports it as such); such a word is set as an inline literal, the
way a reader of the source sees it.
"""

import enum
import re

# One or two stars that open a word (not after a word or a backslash) and
# are not closed later on the line by a star after a non-space:
# "(B, *S)", "**changes", but not "*emphasis*".
LONE_STARS = re.compile(
    r"(?<![\\\w*])(\*{1,2})(?=[A-Za-z_])(?![^\n]*[^\s*]\*(?!\w))"
)


# Inline literals, ``like this``, are left alone.
LITERAL = re.compile(r"(``.*?``)")


def escape_lone_stars(line: str) -> str:
    """``line`` with every unclosed opening star escaped."""
    parts = LITERAL.split(line)
    for i in range(0, len(parts), 2):  # the text between literals
        parts[i] = LONE_STARS.sub(
            lambda m: "\\" + "\\".join(m.group(1)), parts[i]
        )
    return "".join(parts)


# A word with a braced sub- or superscript, without the punctuation around
# it; words holding backticks or backslashes are markup already.
BRACED = re.compile(
    r"(?<!\S)([(\[]*)([^\s`\\]*[_^]\{[^\s`\\]*?)([.,;:)\]]*)(?!\S)"
)


def literal_braced_math(line: str) -> str:
    """``line`` with every word like ``ᾱ_{t−1}`` set as a literal."""
    parts = LITERAL.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = BRACED.sub(r"\1``\2``\3", parts[i])
    return "".join(parts)


def _process(app, what, name, obj, options, lines):
    lines[:] = [literal_braced_math(escape_lone_stars(line)) for line in lines]


def _signature(app, what, name, obj, options, signature, annotation):
    # An Enum's "signature" is Enum's own call: value, names, module, ….
    if (
        what == "class"
        and isinstance(obj, type)
        and issubclass(obj, enum.Enum)
    ):
        return "", annotation
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    app.connect("autodoc-process-signature", _signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
