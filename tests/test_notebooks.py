"""The course notebooks' structure: what nbval itself does not check.

nbval (run by `make test` over notebooks/*.ipynb) compares the outputs of cells marked
`# NBVAL_CHECK_OUTPUT` - but a checked cell committed without outputs would pass silently, and
nothing checks the rules of the course. These tests do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
COURSE = [f"{n:02d}" for n in range(13)]
CHECK = "# NBVAL_CHECK_OUTPUT"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def test_every_course_number_has_one_notebook():
    numbers = [path.name[:2] for path in NOTEBOOKS]
    assert numbers == COURSE, f"notebooks/ holds {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_are_executed_with_stored_output(path):
    checked = [c for c in load(path)["cells"] if c["cell_type"] == "code" and CHECK in text(c)]
    assert checked, f"{path.name}: no cell checks its output"
    for cell in checked:
        head = text(cell).strip().splitlines()[0]
        assert cell.get("execution_count") is not None, f"{path.name}: unexecuted: {head}"
        assert cell.get("outputs"), f"{path.name}: checked cell without output: {head}"
        streams = [o.get("name") for o in cell["outputs"] if o.get("output_type") == "stream"]
        assert "stderr" not in streams, f"{path.name}: stderr in a checked cell: {head}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_executed_without_widget_state_or_errors(path):
    notebook = load(path)
    assert "widgets" not in notebook.get("metadata", {}), f"{path.name}: widget state saved"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") is not None for c in code), f"{path.name}: unrun cells"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: stored error output {errors[0].get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_goals_and_modules_and_closes_with_summary_and_exercises(path):
    cells = load(path)["cells"]
    opening = text(cells[0]).lower()
    assert cells[0]["cell_type"] == "markdown"
    assert "goal" in opening and "ernie3_lite" in opening, f"{path.name}: opening cell"
    closing = " ".join(text(c).lower() for c in cells[-3:] if c["cell_type"] == "markdown")
    assert "summary" in closing and "exercise" in closing, f"{path.name}: closing cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_starts_with_the_shared_setup_and_does_not_copy_it(path):
    """The set-up (fast mode ERNIE3_FAST, seeds, one thread, the font) is `ernie3_lite.notebook
    .setup()`, called in the first code cell; no notebook repeats its steps by hand."""
    code = [text(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert "from ernie3_lite.notebook import" in code[0], f"{path.name}: no shared set-up import"
    assert re.search(r"^course = setup\(", code[0], re.M), f"{path.name}: setup() not called"
    copied = [pattern for pattern in (r"os\.environ\.get\(.ERNIE3_FAST", r"torch\.set_num_threads",
                                      r"tempfile\.TemporaryDirectory")
              if any(re.search(pattern, source) for source in code)]
    assert not copied, f"{path.name}: repeats the set-up by hand: {copied}"
