"""`RecurrenceExplorer` driven through its widget traits, no browser."""

from __future__ import annotations

from ernie3_lite.viz.memory_explorer import RecurrenceExplorer


def test_sliders_update_summary_and_image():
    explorer = RecurrenceExplorer(n_layer=3, seg_len=4, mem_len=4, n_segments=5)
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    first_image = bytes(explorer.image.value)
    assert explorer.summary() == (
        "layer 3, segment 4 (positions 16-19); its last query depends on "
        "xl: positions 4-19 (16 tokens); same_layer: positions 0-19 (20 tokens)")
    explorer.layer.value = 1
    assert "xl: positions 12-19 (8 tokens)" in explorer.summary()
    explorer.segment.value = 0
    assert "xl: positions 0-3 (4 tokens); same_layer: positions 0-3" in explorer.summary()
    assert explorer.summary() in explorer.text.value
    assert bytes(explorer.image.value) != first_image


def test_displays_as_its_widget():
    explorer = RecurrenceExplorer(n_layer=2, seg_len=2, mem_len=2, n_segments=2)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
