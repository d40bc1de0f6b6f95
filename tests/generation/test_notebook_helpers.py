"""What notebooks/11_generation.ipynb relies on: its prompt comes from the shipped data, it
displays exactly one `GenerationDemo` (the browser test clicks the first one), and every checked
cell carries a stored output (nbval skips a cell whose output was never stored)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ernie3_lite import DATA_SAMPLES
from ernie3_lite.data.formats import read_news

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "11_generation.ipynb"


@pytest.fixture(scope="module")
def code_cells() -> list[dict]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_prompt_is_a_headline_start_of_the_held_out_news(code_cells):
    docs = {doc.doc_id: doc for doc in read_news(DATA_SAMPLES / "news" / "test.jsonl")}
    setup = next(_source(c) for c in code_cells if "prompt = article.headline[:6]" in _source(c))
    assert 'doc.doc_id == "pd1998-02689"' in setup
    assert len(docs["pd1998-02689"].headline) > 6  # the prompt is a strict start of it


def test_exactly_one_generation_demo_is_displayed_and_not_compared(code_cells):
    built = [c for c in code_cells if "GenerationDemo.from_pretrained(" in _source(c)]
    assert len(built) == 1
    source = _source(built[0])
    assert "# NBVAL_IGNORE_OUTPUT" in source
    assert "background=True" in source
    assert source.strip().splitlines()[-1] == "demo"  # the cell's value is what gets displayed
    views = [c for c in code_cells for output in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    assert views == built


def test_checked_cells_are_executed_with_outputs_and_no_stderr(code_cells):
    checked = [c for c in code_cells if "# NBVAL_CHECK_OUTPUT" in _source(c)]
    assert len(checked) >= 8
    for cell in checked:
        assert cell["execution_count"] is not None, _source(cell)[:80]
        assert cell["outputs"], _source(cell)[:80]
        assert all(o.get("name") != "stderr" for o in cell["outputs"]), _source(cell)[:80]
