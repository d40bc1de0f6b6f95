"""The lite-scale ablations (benchmarks/ablations/): harness arithmetic by hand, and each script's
``--quick`` run writes its table with every variant row and finite metrics.

No measured value is asserted beyond what must hold for any model (finite numbers, the same
first-segment perplexity for one model evaluated three ways, the ramp of the progressive run).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = ROOT / "benchmarks" / "ablations"
sys.path.insert(0, str(ABLATIONS))

import common  # noqa: E402
import finetuning  # noqa: E402
from progressive_learning import common_target, time_to_target  # noqa: E402

from ernie3_lite import PRETRAINED_NANO  # noqa: E402
from ernie3_lite.config import Ernie3Config  # noqa: E402
from ernie3_lite.training.settings import resolve_config  # noqa: E402


# ---- harness: pure functions ------------------------------------------------------------------
def test_mean_spread_is_mean_and_sample_std():
    assert common.mean_spread([1.0, 2.0, 3.0]) == (2.0, 1.0)
    mean, spread = common.mean_spread([4.0])
    assert mean == 4.0 and math.isnan(spread)
    with pytest.raises(ValueError):
        common.mean_spread([])


def test_format_mean_spread():
    assert common.format_mean_spread([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    assert common.format_mean_spread([10.0, 14.0], digits=1) == "12.0 ± 2.8"
    assert common.format_mean_spread([5.0]) == "5.00 ± n/a"
    assert common.format_mean_spread([]) == "not reached"
    assert common.format_mean_spread([1.0, float("inf")]) == "nan"


def test_render_table_by_hand():
    table = common.render_table(["a", "b"], [["x", "1"], ["y", "2"]])
    assert table == "| a | b |\n|---|---|\n| x | 1 |\n| y | 2 |"
    with pytest.raises(ValueError, match="expected 2"):
        common.render_table(["a", "b"], [["x"]])


def _record(variant: str, seed: int, steps: int, seconds: float, **metrics) -> common.RunRecord:
    return common.RunRecord(variant=variant, seed=seed, steps=steps, train_seconds=seconds,
                            setup_seconds=0.0, val_curve=[], metrics=metrics)


def test_metric_rows_summarise_each_variant_and_count_missing_values():
    records = [_record("A", 0, 10, 60.0, loss=1.0), _record("A", 1, 20, 62.0, loss=3.0),
               _record("B", 0, 30, 61.0, loss=2.0), _record("B", 1, 50, 63.0)]
    rows = common.metric_rows(records, ["A", "B"], ["loss"], digits={"loss": 1})
    assert rows[0] == ["A", "2.0 ± 1.4", "0 1", "15", "61"]
    assert rows[1] == ["B", "2.0 ± n/a (1/2 seeds)", "0 1", "40", "62"]


def test_settings_max_time_is_lightning_format():
    settings = common.Settings(
        preset="nano", data_dir=ROOT, seeds=[0], minutes=2.5, max_steps=10, warmup_steps=1,
        val_every=1, log_every=1, batch_size=2, max_len=32, seg_len=16, lr=1e-3,
        precision="32-true", threads=1, quick=False, results_dir=ROOT)
    assert settings.max_time == "00:00:02:30"
    settings.minutes = 90
    assert settings.max_time == "00:01:30:00"
    settings.minutes = None
    assert settings.max_time is None and "10 steps" in settings.budget_text()


def test_time_to_target_and_common_target():
    fast = [(10, 5.0, 9.0), (20, 9.0, 7.0), (30, 14.0, 6.5)]
    slow = [(10, 6.0, 9.5), (20, 12.0, 8.0), (30, 18.0, 7.2)]
    target = common_target([fast, slow])
    assert target == 7.2  # the lowest loss both reached
    assert time_to_target(fast, target) == (20, 9.0)
    assert time_to_target(slow, target) == (30, 18.0)
    assert time_to_target(slow, 1.0) is None


def test_scratch_overrides_rebuild_the_pretrained_config_from_any_preset():
    saved = json.loads((PRETRAINED_NANO / "config.json").read_text(encoding="utf-8"))
    for preset in ("nano", "test"):
        overrides = finetuning.scratch_overrides(PRETRAINED_NANO, preset)
        config = resolve_config(config=None, preset=preset, config_overrides=overrides,
                                vocab_size=None, sr_max_segments=None)
        assert config == Ernie3Config.from_dict(saved)
    assert "d_model" not in finetuning.scratch_overrides(PRETRAINED_NANO, "nano")


# ---- each script end to end (--quick) ---------------------------------------------------------
def run_quick(script: str, results: Path) -> tuple[str, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ABLATIONS / f"{script}.py"), "--quick",
                           "--results", str(results)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    table = (results / f"{script}.md").read_text(encoding="utf-8")
    assert (results / f"{script}.png").stat().st_size > 1000
    return table, json.loads((results / f"{script}.json").read_text(encoding="utf-8"))


def table_rows(markdown: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every body row of the markdown table."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    return {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines)}


def assert_finite_cells(cells: list[str], count: int) -> None:
    for cell in cells[:count]:
        match = re.fullmatch(r"(-?\d+\.?\d*) ± (n/a|\d+\.?\d*)", cell)
        assert match and math.isfinite(float(match.group(1))), cell


@pytest.mark.slow
def test_recurrence_memory_quick(tmp_path):
    markdown, raw = run_quick("recurrence_memory", tmp_path)
    rows = table_rows(markdown)
    assert len(rows) == 4 and all(any(k.startswith(p) for k in rows)
                                  for p in ("with memory, eval: memory carried (own",
                                            "with memory, eval: each segment alone",
                                            "mem_len=0, eval: each segment alone"))
    for cells in rows.values():
        assert_finite_cells(cells, 3)
    first_segment = {r["metrics"]["ppl seg 1"] for r in raw["records"]
                     if r["variant"].startswith("with memory")}
    assert len({round(v, 6) for v in first_segment}) == 1  # one model, no past in segment 1
    assert "Paper:" in markdown and "command: `python benchmarks/ablations/" in markdown


@pytest.mark.slow
def test_progressive_learning_quick(tmp_path):
    markdown, raw = run_quick("progressive_learning", tmp_path)
    rows = table_rows(markdown)
    assert set(rows) == {"progressive (len, batch, dropout, LR ramp)", "plain LR warm-up"}
    for cells in rows.values():
        assert_finite_cells(cells, 3)
    assert "65.21%" in markdown
    schedules = {r["variant"]: r["schedule"] for r in raw["records"]}
    plain = schedules["plain LR warm-up"]["seq_len"]
    ramp = schedules["progressive (len, batch, dropout, LR ramp)"]["seq_len"]
    assert {v for _, v in plain} == {32.0}  # --quick max_len, from step 0
    assert ramp[0][1] < 32.0 and ramp[-1][1] == 32.0


@pytest.mark.slow
def test_shared_task_modules_quick(tmp_path):
    markdown, raw = run_quick("shared_task_modules", tmp_path)
    rows = table_rows(markdown)
    assert set(rows) == {"separate NLU / NLG modules (ERNIE 3.0)", "one shared task module"}
    for cells in rows.values():
        assert_finite_cells(cells, 6)
    params = {r["variant"]: r["metrics"]["params (M)"] for r in raw["records"]}
    assert params["one shared task module"] < params["separate NLU / NLG modules (ERNIE 3.0)"]


@pytest.mark.slow
def test_uktp_quick(tmp_path):
    markdown, raw = run_quick("uktp", tmp_path)
    rows = table_rows(markdown)
    assert set(rows) == {"UKTP on (five tasks)", "UKTP off (weight 0)"}
    for cells in rows.values():
        assert_finite_cells(cells, 6)
    losses = {r["variant"]: set(r["train_losses"]) for r in raw["records"]}
    assert "uktp_loss" in losses["UKTP on (five tasks)"]
    assert "uktp_loss" not in losses["UKTP off (weight 0)"]  # weight 0: never trained
    for record in raw["records"]:
        metrics = record["metrics"]
        for scorer in ("NLU", "NLG"):
            assert 0 <= metrics[f"{scorer} acc@1"] <= metrics[f"{scorer} acc@5"] <= 100
    assert "SanWen 75.56 -> 77.36" in markdown and "different task" in markdown


@pytest.mark.slow
def test_masking_quick(tmp_path):
    markdown, raw = run_quick("masking", tmp_path)
    rows = table_rows(markdown)
    assert set(rows) == {"knowledge masking (char + phrase + entity)", "character-only masking"}
    for cells in rows.values():
        assert_finite_cells(cells, 5)
    for record in raw["records"]:  # KMLM alone was pre-trained, then NER fine-tuned
        assert {k for k in record["train_losses"] if k.endswith("_loss")} == {"kmlm_loss"}
        assert 0 <= record["metrics"]["NER test"] <= 100
    assert "93.8" in markdown and "92.6" in markdown


@pytest.mark.slow
def test_pretrained_vs_scratch_quick(tmp_path):
    markdown, raw = run_quick("pretrained_vs_scratch", tmp_path)
    rows = table_rows(markdown)
    assert set(rows) == {f"{task}, {start}" for task in ("sentiment (accuracy)",
                                                         "NER (span F1)")
                         for start in ("pre-trained", "from scratch")}
    for cells in rows.values():
        assert_finite_cells(cells, 2)
        assert cells[3] == "2"  # the same fine-tuning steps for both starts
    assert "fine-tuning steps per run" in markdown and "most frequent training label" in markdown
