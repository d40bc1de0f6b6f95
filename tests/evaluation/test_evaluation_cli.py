"""`python -m ernie3_lite.evaluation zeroshot|probe` on a few examples with the shipped model."""

from __future__ import annotations

import re

from ernie3_lite.evaluation.cli import main, markdown_table


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("|---")]


def test_markdown_table():
    assert markdown_table(["a", "b"], [[0.5, "x"]]) == "| a | b |\n|---|---|\n| 0.500 | x |"


def test_zeroshot_cli_prints_accuracy_and_cloze_tables(capsys):
    main(["zeroshot", "--limit", "4"])
    out = capsys.readouterr().out
    assert "n = 4" in out
    rows = table_rows(out)
    sentiment = [r for r in rows if r[0] in ("好评/差评", "满意/不满意", "好/差", "推荐/不推荐")]
    assert len(sentiment) == 4
    for row in sentiment:
        assert 0 <= float(row[1]) <= 1 and 0 <= float(row[2]) <= 1 and row[3] == "0.500"
    cloze = [r for r in rows if r[0] in ("nlg", "nlu") and r[1] == "**all**"]
    assert len(cloze) == 2 and all(r[2] == "4" for r in cloze)


def test_probe_cli_runs_the_leak_check_and_prints_both_query_kinds(capsys):
    main(["probe", "--limit", "2"])
    out = capsys.readouterr().out
    assert re.search(r"Leak check passed: none of the 2 triples", out)
    overall = [r for r in table_rows(out) if r[2] == "**all**"]
    assert [(r[0], r[1]) for r in overall] == [("template", "nlg"), ("template", "nlu"),
                                              ("sentence", "nlg"), ("sentence", "nlu")]
    assert all(r[3] == "2" and 0 <= float(r[5]) <= float(r[6]) <= 1 for r in overall)
