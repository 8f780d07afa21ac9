"""The instructor's course: nbgrader releases, autogrades and scores it.

The round trip an instructor runs, on one chapter: ``scripts/course.py``
writes the course, ``nbgrader generate_assignment`` the hand-out, two
students hand in (one with the book's answers, one whose ``q_sample``
calls the library's), ``nbgrader autograde`` runs both, and the
gradebook holds the expected scores.
"""

import re
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
CHAPTER = "forward"
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


def hand_in(release, source, path: Path, q_sample: str | None = None):
    """A student's notebook: the release with every answer filled in (the
    book's solutions; ``q_sample``'s replaced when given)."""
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: MARKER.sub("", c.source)
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":
            cell.source = "The mean shrinks to zero; the variance does not."
        elif meta["grade_id"] == "fwd-q-sample" and q_sample:
            cell.source = q_sample
        else:
            cell.source = solutions[meta["grade_id"]]
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def course(tmp_path_factory, course_script):
    folder = tmp_path_factory.mktemp("course")
    assert course_script.main([str(folder), "--chapters", CHAPTER]) == 0
    return folder


def test_the_course_folder_holds_config_sources_and_rubrics(course):
    config = (course / "nbgrader_config.py").read_text()
    assert "raise NotImplementedError()" in config
    assert "os.environ.setdefault('DDPM_BOOK_BUILD', '1')" in config
    source = nbformat.read(course / "source" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    text = "\n".join(c.source for c in source.cells)
    assert "### BEGIN SOLUTION" in text and "### BEGIN HIDDEN TESTS" in text
    assert "show_source(dl.q_sample)" not in text
    answers = [
        c
        for c in source.cells
        if c.metadata.get("nbgrader", {})
        .get("grade_id", "")
        .startswith("answer-")
    ]
    assert len(answers) == 2 and all(
        c.cell_type == "markdown" for c in answers
    )
    assert all(len(c.source) > 200 for c in answers), "the model answers"
    rubrics = (course / "rubrics.md").read_text()
    assert "answer-ex-fwd-lt" in rubrics and "pt:" in rubrics
    readme = (course / "README.md").read_text()
    assert f"| `{CHAPTER}` | 2 | 10 | 12 |" in readme
    assert (course / "results" / "fashion_reference.json").is_file()


def test_bad_chapter_names_are_one_error_line(course, course_script, capsys):
    assert course_script.main([str(course), "--chapters", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no chapter with exercises named nope")
    assert err.count("\n") == 1
    # A file where the folder should go: one line, and the file is kept.
    target = course / "a-file"
    target.write_text("notes")
    assert course_script.main([str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {target} is a file, not a folder\n"
    assert target.read_text() == "notes"


def test_nbgrader_releases_autogrades_and_scores_the_assignment(
    course, grading_tool
):
    from nbgrader.api import Gradebook

    grading_tool("nbgrader", course, "generate_assignment", CHAPTER, "--force")
    release_path = course / "release" / CHAPTER / f"{CHAPTER}.ipynb"
    release = nbformat.read(release_path, 4)
    text = "\n".join(c.source for c in release.cells)
    assert "### BEGIN SOLUTION" not in text
    assert "assert_passes" not in text, "the hidden tests are out"
    assert "raise NotImplementedError()" in text
    source = nbformat.read(course / "source" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    for cell in source.cells:
        if (
            cell.metadata.get("nbgrader", {})
            .get("grade_id", "")
            .startswith("answer-")
        ):
            assert cell.source.split("\n\n", 1)[1] not in text

    submitted = course / "submitted"
    hand_in(release, source, submitted / "alice" / CHAPTER / release_path.name)
    delegating = (
        "def q_sample(sched, x0, t, eps):\n"
        "    return dl.q_sample(sched, x0, t, eps)"
    )
    hand_in(
        release,
        source,
        submitted / "bob" / CHAPTER / release_path.name,
        q_sample=delegating,
    )
    grading_tool("nbgrader", course, "autograde", CHAPTER, "--force")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {}
        for student in ("alice", "bob"):
            notebook = gb.find_submission(CHAPTER, student).notebooks[0]
            scores[student] = {g.name: g for g in notebook.grades}
        alice, bob = scores["alice"], scores["bob"]
        assert {
            n: g.auto_score
            for n, g in alice.items()
            if not n.startswith("answer-")
        } == {  # noqa: E501
            "grade-fwd-q-sample": 1.0,
            "grade-fwd-x0-from-eps": 1.0,
        }
        assert bob["grade-fwd-q-sample"].auto_score == 0.0
        assert bob["grade-fwd-x0-from-eps"].auto_score == 1.0
        manual = {n: g for n, g in alice.items() if n.startswith("answer-")}
        assert {n: g.max_score for n, g in manual.items()} == {
            "answer-ex-fwd-forgotten-root": 4.0,
            "answer-ex-fwd-lt": 6.0,
        }
        assert all(g.needs_manual_grade for g in manual.values())
        # A grader gives the answers full marks: the total is the maximum.
        for grade in manual.values():
            grade.manual_score = grade.max_score
        gb.db.commit()
        submission = gb.find_submission(CHAPTER, "alice")
        assert submission.score == submission.max_score == 12.0

    graded = nbformat.read(
        course / "autograded" / "bob" / CHAPTER / release_path.name, 4
    )
    feedback = [
        # The hidden test's AssertionError carries the check's sentence.
        "".join(o.get("evalue", "") for o in c.outputs)
        for c in graded.cells
        if c.metadata.get("nbgrader", {}).get("grade_id")
        == "grade-fwd-q-sample"
    ]
    assert "calls dl.q_sample, the library's answer" in feedback[0]
