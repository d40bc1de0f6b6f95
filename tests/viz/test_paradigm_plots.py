"""Attention-visibility panels and parameter shares (ernie3_lite/viz/paradigm_plots.py)."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import Ernie3Config
from ernie3_lite.model.ernie3 import Ernie3Model
from ernie3_lite.model.positions import causal_mask
from ernie3_lite.viz.paradigm_plots import (
    PARAMETER_GROUPS,
    group_parameters,
    plot_parameter_shares,
    plot_visibility,
)


def test_groups_cover_every_module_once_and_sum_to_the_model_count():
    model = Ernie3Model.build_on_meta(Ernie3Config.from_name("nano"))
    breakdown = model.parameter_breakdown()
    grouped = [name for names in PARAMETER_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(k for k in breakdown if k != "position_keys")
    groups = group_parameters(breakdown)
    assert sum(groups.values()) == model.num_parameters()
    assert groups["universal"] == breakdown["universal"]
    assert groups["NLU module"] == breakdown["nlu_proj"] + breakdown["nlu"]


def test_visibility_panels_show_the_masks_with_their_labels():
    nlu = torch.ones(3, 3, dtype=torch.bool)
    nlg = ~causal_mask(qlen=3, mlen=2)  # (3, 5): memory then the segment, causal
    fig = plot_visibility({"NLU": nlu, "NLG": nlg}, key_labels={"NLG": list("mmabc")},
                          query_labels=list("abc"))
    assert [ax.get_title() for ax in fig.axes] == ["NLU", "NLG"]
    image = fig.axes[1].get_images()[0].get_array()
    assert image.shape == (3, 5) and (image == nlg.float().numpy()).all()
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == list("mmabc")
    with pytest.raises(ValueError, match="must be"):
        plot_visibility({"bad": torch.ones(2, 2, 2, dtype=torch.bool)})


def test_parameter_shares_fill_one_bar_per_preset():
    breakdowns = {name: Ernie3Model.build_on_meta(Ernie3Config.from_name(name))
                  .parameter_breakdown() for name in ("test", "nano")}
    fig = plot_parameter_shares(breakdowns)
    (ax,) = fig.axes
    bars = ax.patches
    assert len(bars) == len(breakdowns) * len(PARAMETER_GROUPS)
    for row in range(len(breakdowns)):
        widths = [b.get_width() for b in bars if round(b.get_y() + b.get_height() / 2) == row]
        assert sum(widths) == pytest.approx(1.0)
    nano = group_parameters(breakdowns["nano"])
    universal_bar = bars[len(PARAMETER_GROUPS) + 1]  # second preset, second group
    assert universal_bar.get_width() == pytest.approx(nano["universal"] / sum(nano.values()))
