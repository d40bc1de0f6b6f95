"""Reading the ablations' JSON records, the computed verdicts and the comparison plots
(ernie3_lite/viz/ablation_results.py, ablation_plots.py). Records are built by hand in the
scripts' format."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from ernie3_lite.viz.ablation_plots import draw_comparison, draw_curves, draw_overview
from ernie3_lite.viz.ablation_results import (
    PAPER_CLAIMS,
    Ablation,
    Claim,
    Comparison,
    Summary,
    ablation_report,
    ablation_table,
    compare,
    load_ablation,
    summary_markdown,
)

ABLATIONS = Path(__file__).resolve().parents[2] / "benchmarks" / "ablations"
CLAIM = Claim("toy", "toy claim", "paper: lower is better", metric="loss", treatment="new",
              baseline="old", higher_is_better=False, paper_gain=10.0, curve="val")


def record(variant: str, seed: int, **metrics: float) -> dict:
    return {"variant": variant, "seed": seed, "steps": 10 + seed, "train_seconds": 60.0 + seed,
            "setup_seconds": 1.0, "val_curve": [[5, 30.0, 4.0 + seed], [10, 60.0, 3.0 + seed]],
            "train_losses": {"dlm_loss": [[1, 8.0], [11, 7.0]]}, "schedule": {},
            "metrics": metrics}


def ablation(new: list[float], old: list[float]) -> Ablation:
    records = [record("new", s, loss=v) for s, v in enumerate(new)]
    records += [record("old", s, loss=v) for s, v in enumerate(old)]
    return Ablation("toy", {}, records)


def test_summary_is_mean_and_sample_std():
    summary = Summary((1.0, 2.0, 3.0))
    assert (summary.n, summary.mean, summary.std) == (3, 2.0, 1.0)
    assert summary.text(digits=2) == "2.00 ± 1.00"
    assert math.isnan(Summary((4.0,)).std) and Summary((4.0,)).text() == "4.000 ± n/a"
    assert Summary(()).text() == "not measured"


@pytest.mark.parametrize(("new", "old", "verdict"), [
    ([1.0, 1.1, 0.9], [2.0, 2.1, 1.9], "reproduces"),  # lower by 1.0, std 0.1
    ([2.0, 2.1, 1.9], [1.0, 1.1, 0.9], "does not reproduce"),
    ([1.0, 1.5, 0.5], [1.4, 1.9, 0.9], "within noise"),  # lower by 0.4 < 2 x 0.5
    ([1.0], [2.0], "same direction as the paper (1 seed"),
    ([2.0], [1.0], "opposite direction to the paper (1 seed"),
    ([1.0, 1.0], [1.0, 1.0], "no difference"),  # not "does not reproduce" at zero spread
])
def test_verdict_is_computed_from_the_difference_and_the_spread(new, old, verdict):
    comparison = compare(ablation(new, old), CLAIM)
    assert comparison.verdict.startswith(verdict)


def test_gain_is_signed_in_the_papers_direction():
    lower = compare(ablation([1.0, 1.0], [4.0, 4.0]), CLAIM)
    assert lower.gain == 3.0 and lower.relative_gain == pytest.approx(75.0)  # "75% less"
    higher = Comparison(Claim("t", "t", "", "acc", "new", "old", higher_is_better=True),
                        Summary((60.0,)), Summary((50.0,)))
    assert higher.gain == 10.0 and higher.relative_gain == pytest.approx(20.0)


def test_a_run_without_the_metric_is_left_out_and_counted():
    toy = ablation([1.0, 1.2], [2.0, 2.2])
    toy.records.append(record("new", 2))  # e.g. a target this run never reached
    assert toy.values("new", "loss") == [1.0, 1.2]
    toy.records.append(record("other", 0, acc=0.5))  # a variant with other metrics only
    table = ablation_table(toy, digits=1)
    assert "1.1 ± 0.1 (2/3 seeds)" in table and "0 1 2" in table
    assert table.splitlines()[-1].split()[:3] == ["other", "-", "0.5"]


def test_table_has_one_aligned_row_per_variant_with_steps_and_seconds():
    lines = ablation_table(ablation([1.0, 3.0], [5.0, 5.0])).splitlines()
    assert lines[0].split() == ["variant", "loss", "seeds", "steps", "train", "s"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["new", "2.000", "±", "1.414", "0", "1", "10", "60.500"]
    assert lines[3].split()[:4] == ["old", "5.000", "±", "0.000"]
    assert lines[2].index("±") == lines[3].index("±")


def test_load_and_report_from_a_results_folder(tmp_path):
    assert load_ablation(tmp_path / "toy.json") is None
    assert (ablation_report("toy", tmp_path, claims=[CLAIM])
            == "not run yet: python benchmarks/ablations/toy.py")
    records = ablation([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]).records
    (tmp_path / "toy.json").write_text(json.dumps({"settings": {"preset": "nano"},
                                                   "records": records}))
    loaded = load_ablation(tmp_path / "toy.json")
    assert loaded.variants == ["new", "old"] and loaded.metrics == ["loss"]
    report = ablation_report("toy", tmp_path, claims=[CLAIM])
    assert report.startswith(ablation_table(loaded))
    assert "  new: 1.000 ± 0.100" in report and "+1.000 (+50.0% of the baseline)" in report
    assert report.endswith("verdict: reproduces (difference > 2 std)")
    # two claims on one file: one table, two verdicts; a renamed variant is named, not a crash
    renamed = Claim("toy", "toy", "", "loss", "newer", "old", higher_is_better=False)
    two = ablation_report("toy", tmp_path, claims=[CLAIM, renamed])
    assert two.count("train s") == 1 and two.count("verdict: ") == 1
    assert two.endswith("cannot compare: toy: no variant 'newer' (has ['new', 'old'])")


def test_comparison_bars_and_curves_come_from_the_records():
    toy = ablation([1.0, 3.0], [5.0, 7.0])
    fig = Figure()
    bars_ax, curves_ax = fig.subplots(1, 2)
    draw_comparison(bars_ax, toy, CLAIM)
    assert [bar.get_height() for bar in bars_ax.patches] == [2.0, 6.0]  # the means
    dots = [list(line.get_ydata()) for line in bars_ax.lines if line.get_marker() == "o"]
    assert dots == [[1.0, 3.0], [5.0, 7.0]]  # one dot per seed
    draw_curves(curves_ax, toy, CLAIM)
    first = curves_ax.lines[0]
    assert list(first.get_xdata()) == [30.0, 60.0] and list(first.get_ydata()) == [4.0, 3.0]
    assert len(curves_ax.lines) == 4  # two variants x two seeds


def test_overview_draws_our_gain_next_to_the_papers():
    comparison = compare(ablation([1.0, 1.0], [4.0, 4.0]), CLAIM)
    fig = Figure()
    ax = fig.subplots()
    draw_overview(ax, [comparison])
    widths = sorted(bar.get_width() for bar in ax.patches)
    assert widths == pytest.approx([10.0, 75.0])  # the paper's 10% and our 75%
    assert sorted(t.get_text() for t in ax.texts) == [" +10.0%", " +75.0%"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours (± 2 std)", "paper"]
    zero = compare(ablation([1.0], [0.0]), CLAIM)  # no relative gain on a zero baseline
    zero_ax = Figure().subplots()
    draw_overview(zero_ax, [zero])
    assert [t.get_text() for t in zero_ax.texts] == [" n/a (baseline 0)", " +10.0%"]


@pytest.mark.parametrize("claim", PAPER_CLAIMS, ids=lambda c: c.title)
def test_each_claim_names_variants_its_script_runs(claim):
    script = ABLATIONS / f"{claim.name}.py"
    if not script.is_file():
        pytest.skip(f"{script.name} not in this checkout")
    source = script.read_text(encoding="utf-8")
    if claim.name == "pretrained_vs_scratch":  # its row names are built by `row_name`
        task, start = re.fullmatch(r"(\w+) \(.*\), (.*)", claim.treatment).groups()
        assert f'"{task.lower()}": "{task}"' in source and f'"{start}"' in source
        assert claim.baseline == claim.treatment.replace(start, "from scratch")
        return
    for name in (claim.treatment, claim.baseline):
        assert f'"{name}"' in source or f'"{name}: ' in source, f"{name!r} not in {script.name}"


@pytest.mark.parametrize("claim", PAPER_CLAIMS, ids=lambda c: c.title)
def test_each_claim_compares_on_its_committed_results(claim):
    results = load_ablation(ABLATIONS / "results" / f"{claim.name}.json")
    if results is None:
        pytest.skip(f"results/{claim.name}.json not committed yet")
    comparison = compare(results, claim)  # KeyError names a renamed variant or metric
    assert comparison.treatment.n >= 1 and comparison.baseline.n >= 1


def test_summary_table_says_what_is_missing_and_what_was_measured(tmp_path):
    records = ablation([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]).records
    (tmp_path / "toy.json").write_text(json.dumps({"settings": {}, "records": records}))
    missing = Claim("absent", "absent claim", "a figure", "loss", "new", "old",
                    higher_is_better=False)
    lines = summary_markdown([CLAIM, missing], tmp_path).splitlines()
    assert len(lines) == 4 and lines[1] == "|---|---|---|---|"
    assert lines[2] == ("| toy claim | paper: lower is better | +50.0% (loss 1.000 vs 2.000, "
                        "3 seeds) | reproduces (difference > 2 std) |")
    assert lines[3] == ("| absent claim | a figure | not run yet | "
                        "`python benchmarks/ablations/absent.py` |")
