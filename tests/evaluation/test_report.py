"""The quality report end to end in --quick mode (data_samples, one seed, a few examples)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ernie3_lite.evaluation.report_render import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_report_writes_every_row_and_target(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("sklearn_crfsuite")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ERNIE3_PRECISION": "32-true"}
    out = tmp_path / "quality"
    done = subprocess.run([sys.executable, "benchmarks/quality.py", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    markdown = out.with_suffix(".md").read_text(encoding="utf-8")
    for row in ("document-LM perplexity", "masked-LM accuracy", "sentiment accuracy",
                "NER span F1", "headline ROUGE-L", "knowledge probe", "zero-shot sentiment"):
        assert row in markdown, row
    assert {"KN 2-gram", "KN 3-gram", "KN 5-gram", "unigram"} <= set(
        report["lm"]["dlm"]["baselines"])
    assert set(report["finetune"]) == {"sentiment", "ner", "headline"}
    verdicts = [t["met"] for t in report["targets"]]
    assert len(verdicts) == 10 and None in verdicts  # --quick runs no from-scratch rows
    assert "**not met**" in markdown or "**met**" in markdown


def test_render_marks_skipped_rows_not_measured():
    report = {"model": "m", "data": "d", "date": "today", "command": "c", "machine": "x",
              "seconds": {}, "zeroshot": {"model": {"verbalizer": "好/差", "calibrated": False,
                                                    "accuracy": 0.7, "n": 10, "predicted": {}},
                                          "baselines": {"chance": 0.5, "majority": 0.6}},
              "baselines": {"sentiment": {"TF-IDF + LR": {"test": 0.8, "n": 100},
                                          "majority": {"test": 0.5}},
                            "ner": {"CRF": {"test": 0.9}, "all O": {"test": 0.0}},
                            "headline": {"first sentence": {"test": 0.15}}}}
    markdown, targets = render(report)
    met = {t["target"]: t["met"] for t in targets}
    assert met["zero-shot sentiment > 0.60"] is True
    assert met["NER span F1 >= CRF"] is None
    assert "not measured" in markdown


def _piece(command: str, **sections) -> dict:
    return {"model": "m", "data": "d", "command": command, "seconds": {}, **sections}


def test_merge_joins_finetune_starts_and_lets_this_run_win():
    from ernie3_lite.evaluation.report import merge_reports

    scratch = _piece("a", finetune={"ner": {"scratch": {"test": 1}}}, lm={"old": True})
    scratch["seconds"] = {"finetune": 10.0, "lm": 5.0}
    now = _piece("b", finetune={"ner": {"pretrained": {"test": 2}}}, lm={"new": True})
    now["seconds"] = {"finetune": 20.0, "lm": 1.0}
    merged = merge_reports(now, [scratch])
    assert merged["finetune"]["ner"] == {"scratch": {"test": 1}, "pretrained": {"test": 2}}
    assert merged["lm"] == {"new": True}  # measured again: the merged row is replaced
    assert merged["seconds"] == {"finetune": 30.0, "lm": 1.0}
    assert merged["merged_commands"] == ["a"] and merged["command"] == "b"
    assert merge_reports(now, []) is now


def test_merge_refuses_another_model_and_bad_files(tmp_path):
    from ernie3_lite.evaluation.report import main, merge_reports

    with pytest.raises(SystemExit, match="cannot join"):
        merge_reports(_piece("b"), [{**_piece("a"), "model": "other"}])
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SystemExit, match="bad.json: not a quality report"):
        main(["--merge", str(bad), "--out", str(tmp_path / "q")])
    assert not (tmp_path / "q.json").exists()  # refused before any measurement or write
