"""The instructors' page: its tables come from the chapters, and the
Colab launch button opens the Colab and student copies."""

import importlib.util
import re
from pathlib import Path

import pytest

from ddpm_book import classroom as cr
from ddpm_book.rubrics import RUBRICS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def in_book(monkeypatch):
    monkeypatch.chdir(ROOT / "book")  # where the page runs


def test_minutes_follow_the_stated_formula():
    # 200 words read at 100 a minute, 4 lines at 3 minutes, 5 to check:
    # 19 minutes, rounded up to 20.
    assert cr.estimate_minutes("coding", 200, 4) == 20
    # 100 words read, a 150-word solution at 15 a minute: 11 → 15.
    assert cr.estimate_minutes("pen and paper", 100, 150) == 15
    assert cr.estimate_minutes("coding", 0, 0) == 5
    with pytest.raises(ValueError, match="coding or pen and paper"):
        cr.estimate_minutes("essay", 10, 10)


def test_every_exercise_is_listed_with_its_points_and_level():
    items = cr.book_exercises()
    index = (ROOT / "book" / "exercises.md").read_text()
    listed = re.findall(r"\{ref\}`([\w-]+)`", index)
    assert [i.label for i in items] == listed
    for item in items:
        if item.check:
            assert item.points == 1, "one hidden test point"
            assert item.solution_size >= 1
        else:
            assert item.points == RUBRICS[item.label].points
            assert item.solution_size > 20  # words of a worked solution
        assert item.statement_words > 10
        assert item.minutes % 5 == 0 and 5 <= item.minutes <= 60
        assert item.difficulty.level in (1, 2, 3)
    table = cr.exercise_table(items).splitlines()
    assert len(table) == len(items) + 2
    assert "coding, `check_q_sample`" in "\n".join(table)


def test_every_chapter_has_learning_goals():
    for chapter in ("glance", *cr.CHAPTERS, "beyond"):
        goals = cr.learning_goals(chapter)
        assert 3 <= len(goals) <= 6, chapter
        assert all(len(g) > 30 and "\n" not in g for g in goals)
    markdown = cr.goals_markdown(("forward",))
    assert markdown.startswith("**The forward process in closed form**")


def test_each_check_names_the_mistakes_it_recognises():
    items = [i for i in cr.book_exercises() if i.check]
    for item in items:
        named = cr.mistakes_recognised(item.check)
        assert named and len(set(named)) == len(named), item.check
    assert any(
        "standard deviation" in m
        for m in cr.mistakes_recognised("check_q_sample")
    )
    table = cr.mistakes_table(items)
    assert table.count("\n") == len(items) + 1
    # What the site's browser check calls TeX left in the text.
    assert not re.search(r"\\[A-Za-z]{2,}|\$|[_^]\{", table)
    assert "ᾱₜ₋₁" in table  # ᾱ_{t−1} of the messages, as subscripts
    with pytest.raises(ValueError, match="no exercise behind"):
        cr.mistakes_recognised("check_nothing")


def load_extension():
    path = ROOT / "book" / "_ext" / "colab_copies.py"
    spec = importlib.util.spec_from_file_location("colab_copies", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class App:
    srcdir = str(ROOT)


def context(page: str) -> dict:
    url = (
        "https://colab.research.google.com/github/ddpm-book/ddpm-book/"
        f"blob/v0.2.0/book/{page}.ipynb"
    )
    colab = {"type": "link", "text": "Colab", "url": url}
    group = {"label": "launch-buttons", "buttons": [colab]}
    return {"header_buttons": [group]}


def test_the_colab_button_opens_the_colab_and_student_copies():
    ext = load_extension()
    ctx = context("forward")
    ext.retarget(App(), "book/forward", "page.html", ctx, None)
    buttons = ctx["header_buttons"][0]["buttons"]
    assert [b["text"] for b in buttons] == ["Colab", "Colab: student copy"]
    assert buttons[0]["url"].endswith("/blob/v0.2.0/colab/forward.ipynb")
    assert buttons[1]["url"].endswith("/blob/v0.2.0/student/forward.ipynb")
    for b in buttons:
        path = b["url"].split("/blob/v0.2.0/")[1]
        assert (ROOT / path).is_file()
    # A chapter without exercises has no student copy.
    ctx = context("intro")
    ext.retarget(App(), "book/intro", "page.html", ctx, None)
    assert [b["text"] for b in ctx["header_buttons"][0]["buttons"]] == [
        "Colab"
    ]
    # A missing Colab copy stops the build.
    with pytest.raises(Exception, match="no colab/nope.ipynb"):
        ext.retarget(App(), "book/nope", "page.html", context("nope"), None)
