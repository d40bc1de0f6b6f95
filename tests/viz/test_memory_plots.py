"""Receptive field of segment recurrence (ernie3_lite/viz/memory_plots.py), checked against the
real `RelTransformerStack` by perturbing one token at a time."""

from __future__ import annotations

import pytest
import torch

from ernie3_lite.config import StackConfig
from ernie3_lite.model.stack import RelTransformerStack
from ernie3_lite.viz.memory_plots import (
    context_lengths,
    plot_receptive_field,
    plot_segment_reach,
    receptive_field,
)


def measured_reach(stack: RelTransformerStack, *, seg_len: int, mem_len: int,
                   n_segments: int) -> torch.Tensor:
    """(L+1, T, T): does layer l's output at i change when the input at j changes?"""
    total = seg_len * n_segments
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, total, stack.d_model, dtype=torch.float64, generator=generator)

    def layer_states(inputs: torch.Tensor) -> torch.Tensor:  # (L+1, T, d)
        captured: list[torch.Tensor] = []
        hooks = [layer.register_forward_hook(lambda m, i, out: captured.append(out.hidden))
                 for layer in stack.layers]
        segments, memory = [], None
        for s in range(n_segments):
            captured.clear()
            piece = inputs[:, s * seg_len:(s + 1) * seg_len]  # (1, Q, d)
            memory = stack(piece, causal=True, memory=memory, mem_len=mem_len).new_memory
            segments.append(torch.stack([piece[0]] + [h[0] for h in captured]))
        for hook in hooks:
            hook.remove()
        return torch.cat(segments, dim=1)

    base = layer_states(x)
    reach = torch.zeros(stack.n_layer + 1, total, total, dtype=torch.bool)
    for j in range(total):
        perturbed = x.clone()
        # a random direction: a constant shift would vanish in the next LayerNorm
        perturbed[0, j] += torch.randn(stack.d_model, dtype=torch.float64, generator=generator)
        reach[:, :, j] = ((layer_states(perturbed) - base).abs() > 1e-9).any(dim=-1)
    return reach


@pytest.mark.parametrize("recurrence", ["xl", "same_layer"])
@pytest.mark.parametrize(("seg_len", "mem_len"), [(3, 2), (2, 5), (3, 0)])
def test_receptive_field_matches_the_real_stack(recurrence, seg_len, mem_len):
    torch.manual_seed(0)
    stack = RelTransformerStack(StackConfig(3, 16, 2, 32), recurrence=recurrence)
    stack = stack.double().eval()
    got = receptive_field(recurrence=recurrence, n_layer=3, seg_len=seg_len, mem_len=mem_len,
                          n_segments=4)
    want = measured_reach(stack, seg_len=seg_len, mem_len=mem_len, n_segments=4)
    assert torch.equal(got, want)


def test_xl_reach_grows_with_depth_same_layer_with_segments():
    sizes = dict(n_layer=3, seg_len=4, mem_len=4, n_segments=5)
    xl = context_lengths(receptive_field(recurrence="xl", **sizes))
    same = context_lengths(receptive_field(recurrence="same_layer", **sizes))
    last = 4 * 5 - 1
    # xl: one more segment of memory per layer (Transformer-XL §3.2, O(N x L))
    assert xl[:, last].tolist() == [1, 8, 12, 16]
    # same_layer: every layer >= 1 already reaches the start of the stream
    assert same[1:, last].tolist() == [20, 20, 20]
    assert same[0, last] == 1


def test_without_memory_segments_are_isolated():
    reach = receptive_field(recurrence="xl", n_layer=2, seg_len=3, mem_len=0, n_segments=2)
    assert not reach[:, 3:, :3].any()  # the second segment never sees the first
    assert torch.equal(reach[2, :3, :3], torch.ones(3, 3, dtype=torch.bool).tril())


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="recurrence"):
        receptive_field(recurrence="bi", n_layer=1, seg_len=1, mem_len=1, n_segments=1)
    with pytest.raises(ValueError, match="mem_len=-1"):
        receptive_field(recurrence="xl", n_layer=1, seg_len=1, mem_len=-1, n_segments=1)
    with pytest.raises(ValueError, match="layer=4"):
        plot_segment_reach(layer=4, segment=0, n_layer=3, seg_len=2, mem_len=2, n_segments=2)


def test_plots_have_one_panel_per_recurrence_with_the_reach_as_image():
    sizes = dict(n_layer=3, seg_len=4, mem_len=2, n_segments=3)
    fig = plot_receptive_field(position=9, **sizes)
    assert len(fig.axes) == 2
    xl = receptive_field(recurrence="xl", **sizes)
    (image,) = fig.axes[0].get_images()
    assert image.get_array().shape == (4, 12)
    assert (image.get_array() == xl[:, 9, :].float().numpy()).all()
    fig = plot_segment_reach(layer=2, segment=1, **sizes)
    same = receptive_field(recurrence="same_layer", **sizes)
    images = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert [a.shape for a in images] == [(4, 12), (4, 12)]
    assert (images[1] == same[2, 4:8, :].float().numpy()).all()
