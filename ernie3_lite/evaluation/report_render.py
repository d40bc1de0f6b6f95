"""The quality report's markdown table and its targets (issue 13), from `report.run`'s dict.

Each target is printed as met / not met with the number it is compared to; a row whose
measurement was skipped (``--skip-finetune``) is "not measured", never dropped.
"""

from __future__ import annotations

import math


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ms(s: dict | None) -> str:
    return "not measured" if s is None else f"{s['mean']:.3f} ± {s['sd']:.3f} (n={s['n']})"


def targets(r: dict) -> list[dict]:
    """[{"target", "value", "threshold", "met"}]: met is None when not measured."""
    out = []

    def add(name, value, threshold, met):
        out.append({"target": name, "value": value, "threshold": threshold,
                    "met": None if value is None else bool(met)})

    if "lm" in r:
        dlm = r["lm"]["dlm"]
        best = min(v["ppl"] for v in dlm["model"].values())
        kn3, kn5 = dlm["baselines"]["KN 3-gram"]["ppl"], dlm["baselines"]["KN 5-gram"]["ppl"]
        add("DLM perplexity < KN 3-gram", best, kn3, best < kn3)
        add("(stretch) DLM perplexity < KN 5-gram", best, kn5, best < kn5)
    ft, base = r.get("finetune", {}), r.get("baselines", {})
    for task, metric_base, name in (("ner", "CRF", "NER span F1 >= CRF"),
                                    ("sentiment", "TF-IDF + LR",
                                     "sentiment acc > TF-IDF + LR + 2 standard errors"),
                                    ("headline", "first sentence",
                                     "headline ROUGE-L > first sentence")):
        value = ft.get(task, {}).get("pretrained", {}).get("test")
        floor = base.get(task, {}).get(metric_base, {}).get("test")
        if floor is None:
            continue
        mean = None if value is None else value["mean"]
        if task == "ner":
            add(name, mean, floor, mean is not None and mean >= floor)
        elif task == "sentiment":
            # standard error of the baseline's accuracy on n test reviews (binomial)
            n = base[task][metric_base]["n"]
            threshold = floor + 2 * math.sqrt(floor * (1 - floor) / n)
            add(name, mean, threshold, mean is not None and mean > threshold)
        else:
            add(name, mean, floor, mean is not None and mean > floor)
    if "zeroshot" in r:
        add("zero-shot sentiment > 0.60", r["zeroshot"]["model"]["accuracy"], 0.60,
            r["zeroshot"]["model"]["accuracy"] > 0.60)
    if "probe" in r:
        p = r["probe"]
        prior = p["baselines"]["tail prior"].get("acc@1", 0.0)
        # a tail prior of 0 would make any model pass: then 10x random is the bar too
        threshold = 10 * max(prior, p["baselines"]["random"]["acc@1"])
        add("probe acc@1 >= 10x tail prior (and 10x random)", p["model"].get("acc@1", 0.0),
            threshold, p["model"].get("acc@1", 0.0) >= threshold)
    for task in ("sentiment", "ner", "headline"):
        runs = ft.get(task, {})
        pre, scratch = runs.get("pretrained", {}).get("test"), runs.get("scratch", {}).get("test")
        gap = None if pre is None or scratch is None else pre["mean"] - scratch["mean"]
        bar = None if gap is None else 2 * max(pre["sd"], scratch["sd"])
        add(f"{task}: pre-trained - scratch > 2 seed sd", gap, bar, gap is not None and gap > bar)
    return out


def render(r: dict) -> tuple[str, list[dict]]:
    """(markdown, targets) of a report dict."""
    lines = [f"## Quality report: `{r['model']}` on `{r['data']}`", "",
             f"Command: `{r['command']}` ({r['date']}, {r['machine']}).", "",
             "| row | model | baselines |", "|---|---|---|"]
    if "lm" in r:
        dlm, mlm = r["lm"]["dlm"], r["lm"]["mlm"]
        model = ", ".join(f"{k}: {v['ppl']:.1f} (top-1 {v['top1']:.3f})"
                          for k, v in dlm["model"].items())
        bases = ", ".join(f"{k}: {v['ppl']:.1f}" for k, v in dlm["baselines"].items())
        lines.append(f"| document-LM perplexity, news test ({dlm['tokens']} tokens, segments "
                     f"of {dlm['seg_len']}) | {model} | {bases} (trained on news train, "
                     f"{dlm['train_tokens']} tokens) |")
        lines.append(f"| masked-LM accuracy, news test ({mlm['model']['n']} masked tokens) | "
                     f"{mlm['model']['acc']:.3f} | most frequent token: "
                     f"{mlm['baselines']['most frequent token']:.3f} |")
    base, ft = r.get("baselines", {}), r.get("finetune", {})
    if base:
        for task, row in (("sentiment", "sentiment accuracy, reviews test"),
                          ("ner", "NER span F1, test (windowed)"),
                          ("headline", "headline ROUGE-L, news test")):
            runs = ft.get(task, {})
            model = f"pre-trained {_ms(runs.get('pretrained', {}).get('test'))}"
            if "scratch" in runs:
                model += f"; from scratch {_ms(runs['scratch']['test'])}"
            subsets = {r.get("max_train_examples") for r in runs.values()} - {None}
            if subsets:  # fine-tuned on the first N training examples only
                model += f" (first {', '.join(map(str, sorted(subsets)))} training examples)"
            bases = ", ".join(f"{k}: {v['test']:.3f}" for k, v in base[task].items())
            lines.append(f"| {row} | {model} | {bases} |")
    if "probe" in r:
        p = r["probe"]
        m = p["model"]
        bases = ", ".join(f"{k}: {_f(v.get('acc@1'))} / {_f(v.get('acc@5'))}"
                          for k, v in p["baselines"].items())
        lines.append(f"| knowledge probe acc@1 / acc@5, {p['triples']} test triples | "
                     f"{_f(m.get('acc@1'))} / {_f(m.get('acc@5'))} ({m['queries']} queries, "
                     f"{m['scorer']} scorer) | {bases} |")
    if "zeroshot" in r:
        z = r["zeroshot"]
        lines.append(f"| zero-shot sentiment, reviews test (n={z['model']['n']}) | "
                     f"{z['model']['accuracy']:.3f} ({z['model']['verbalizer']}"
                     f"{', calibrated' if z['model']['calibrated'] else ''}) | chance "
                     f"{z['baselines']['chance']:.3f}, majority {z['baselines']['majority']:.3f} |")
    found = targets(r)
    lines += ["", "| target | value | threshold | |", "|---|---|---|---|"]
    for t in found:
        verdict = {None: "not measured", True: "**met**", False: "**not met**"}[t["met"]]
        lines.append(f"| {t['target']} | {_f(t['value'])} | {_f(t['threshold'])} | {verdict} |")
    if "probe" in r:
        lines += ["", f"{r['probe']['cooccurring']} of {r['probe']['triples']} held-out probe "
                  "pairs co-occur (full or short names) in a sentence of the news train split: "
                  "the probe split keeps them out of UKTP's aligned pairs only, not out of the "
                  "pre-training text. Ranking ties count against the gold tail."]
    if not ft:
        lines += ["", "Fine-tuning rows not measured in this run (`--skip-finetune`)."]
    lines += ["", "Seconds per section: " + ", ".join(f"{k} {v}" for k, v in
                                                      r["seconds"].items()), ""]
    return "\n".join(lines), found
