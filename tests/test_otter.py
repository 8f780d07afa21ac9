"""The instructor's course for otter-grader: assigned, run and scored.

The round trip of tests/test_course.py with otter, on one chapter:
``scripts/course.py --otter`` writes the master notebook, ``otter
assign`` the hand-out and the autograder zip (as Gradescope gets it), two
students hand in (one with the book's answers, one whose ``q_sample``
calls the library's), and ``otter run`` grades each here, without Docker
or network, as the autograder would.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter")

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
CHAPTER = "forward"
SOLUTION = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?",
    re.M | re.S,
)
DELEGATING = (
    "def q_sample(sched, x0, t, eps):\n"
    "    return dl.q_sample(sched, x0, t, eps)"
)


def hand_in(student, source, path: Path, q_sample: str | None = None):
    """A student's notebook: otter's hand-out with every answer filled in
    (the book's solutions, found by their first line, ``def name(…)``;
    ``q_sample``'s replaced when given)."""
    solutions = {
        c.source.splitlines()[0]: SOLUTION.sub(r"\1", c.source)
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
        and c.cell_type == "code"
    }
    nb = nbformat.from_dict(student)
    for cell in nb.cells:
        if "otter_answer_cell" not in cell.metadata.get("tags", []):
            continue
        first = cell.source.splitlines()[0]
        if cell.cell_type == "markdown":
            cell.source = "The mean shrinks to zero; the variance does not."
        elif first.startswith("def q_sample(") and q_sample:
            cell.source = q_sample
        else:
            cell.source = solutions[first]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def assigned(tmp_path_factory, course_script, grading_tool):
    """The course with --otter, and ``otter assign`` run on its master
    notebook (the solutions are run by the hand-ins below, not here)."""
    folder = tmp_path_factory.mktemp("course")
    course = course_script
    assert course.main([str(folder), "--chapters", CHAPTER, "--otter"]) == 0
    here = folder / "otter" / CHAPTER
    master = f"{CHAPTER}.ipynb"
    grading_tool("otter", here, "assign", "--no-run-tests", master, "dist")
    return folder, here / "dist"


def test_the_master_notebook_holds_the_questions_of_the_source(
    assigned, course_script
):
    folder, _ = assigned
    master = nbformat.read(folder / "otter" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    config = master.cells[0]
    assert config.cell_type == "raw"
    assert config.source.startswith("# ASSIGNMENT CONFIG")
    assert "export_cell: false" in config.source
    assert "pdf: false" in config.source
    assert course_script.project.pip_spec() in config.source
    questions = [
        c.source.splitlines()[1:]
        for c in master.cells
        if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")
    ]
    assert [q[:2] for q in questions] == [
        ["name: grade-fwd-q-sample", "points: 1"],
        ["name: grade-fwd-x0-from-eps", "points: 1"],
        ["name: answer-ex-fwd-forgotten-root", "points: 4"],
        ["name: answer-ex-fwd-lt", "points: 6"],
    ]
    assert sum("manual: true" in q for q in questions) == 2
    assert (folder / "otter" / CHAPTER / "results").is_dir()
    readme = (folder / "README.md").read_text()
    assert "## Otter and Gradescope" in readme
    assert "otter assign" in readme and "otter run" in readme


def test_the_hand_out_holds_no_answers_and_the_zip_is_written(assigned):
    folder, dist = assigned
    source = nbformat.read(folder / "source" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    student = nbformat.read(dist / "student" / f"{CHAPTER}.ipynb", 4)
    # Otter keeps tests in the notebook's metadata: read it too.
    text = "\n".join(c.source for c in student.cells)
    text += json.dumps(student.metadata)
    assert "raise NotImplementedError()" in text
    assert "BEGIN SOLUTION" not in text and "BEGIN PROMPT" not in text
    assert "assert_passes" not in text, "the hidden tests are out"
    for cell in source.cells:
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        if cell.cell_type == "markdown":  # the model answer, under a heading
            answer = cell.source.split("\n\n", 1)[1]
        else:
            answer = SOLUTION.search(cell.source)[1]
        for line in filter(None, map(str.strip, answer.splitlines())):
            assert line not in text, line
    assert (dist / "student" / "results" / "fashion_reference.json").is_file()
    assert list((dist / "autograder").glob(f"{CHAPTER}-autograder_*.zip"))


def test_otter_run_scores_the_hand_ins(assigned, grading_tool):
    folder, dist = assigned
    source = nbformat.read(folder / "source" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    student = nbformat.read(dist / "student" / f"{CHAPTER}.ipynb", 4)
    (zip_path,) = (dist / "autograder").glob(f"{CHAPTER}-autograder_*.zip")
    scores = {}
    for name, q_sample in (("alice", None), ("bob", DELEGATING)):
        work = dist.parent / "submitted" / name
        hand_in(student, source, work / f"{CHAPTER}.ipynb", q_sample)
        grading_tool(
            "otter",
            work,
            "run",
            "--no-logo",
            "-a",
            str(zip_path),
            "-o",
            str(work),
            f"{CHAPTER}.ipynb",
        )
        results = json.loads((work / "results.json").read_text())
        scores[name] = {t["name"]: t for t in results["tests"]}
    alice, bob = scores["alice"], scores["bob"]
    # Only the hidden tests are autograded: the answer cells are not.
    graded = {
        n.partition(" ")[0]: (t["score"], t["max_score"])
        for n, t in alice.items()
        if n.startswith("grade-")
    }
    assert graded == {
        "grade-fwd-q-sample": (1.0, 1.0),
        "grade-fwd-x0-from-eps": (1.0, 1.0),
    }
    assert not any("answer-" in n for n in alice), "manual questions"
    bob_q = next(t for n, t in bob.items() if n.startswith("grade-fwd-q-"))
    bob_x0 = next(t for n, t in bob.items() if n.startswith("grade-fwd-x0"))
    assert (bob_q["score"], bob_x0["score"]) == (0.0, 1.0)
    # The hidden test's AssertionError carries the check's sentence.
    assert "calls dl.q_sample, the library's answer" in bob_q["output"]
