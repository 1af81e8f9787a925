import dataclasses
import math

import pytest
import torch

from reference_impl.ttm.masked_attention import (
    MaskedCrossAttention,
    MaskedSelfAttention,
    ObjectAttention,
    ObjectLayout,
    box_membership,
    cross_attention_allowed,
    grouped_attention,
    ids_membership,
    mask_object_ids,
    masked_attention,
    self_attention_allowed,
)

DIM, HEADS, CONTEXT = 16, 2, 12
FRAMES, HEIGHT, WIDTH = 2, 4, 6
LEFT, RIGHT = (0.0, 0.0, 0.5, 1.0), (2 / 3, 0.0, 1.0, 1.0)  # right box leaves a background column


def _paint(boxes: list[tuple[float, ...]], height: int, width: int) -> torch.Tensor:
    """Label maps uint8 [1, FRAMES, height, width] with each box filled (later boxes on top)."""
    labels = torch.zeros(1, FRAMES, height, width, dtype=torch.uint8)
    for k, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        labels[..., round(y0 * height):round(y1 * height), round(x0 * width):round(x1 * width)] = k
    return labels


def _layout(boxes: list[tuple[float, ...]], prompt_lengths: list[int], pad: int = 0,
            seed: int = 0, labels: torch.Tensor | None = None) -> ObjectLayout:
    """Boxes on every latent frame; labels default to the filled boxes at 2 pixels per cell."""
    g = torch.Generator().manual_seed(seed)
    objects = len(boxes)
    box = torch.tensor(boxes, dtype=torch.float32).reshape(1, 1, objects, 4)
    owner = [i for i, n in enumerate(prompt_lengths) for _ in range(n)] + [-1] * pad
    return ObjectLayout(
        boxes=box.expand(1, FRAMES, objects, 4).clone(),
        present=torch.ones(1, FRAMES, objects, dtype=torch.bool),
        local_tokens=torch.randn(1, len(owner), CONTEXT, generator=g),
        local_token_object=torch.tensor([owner]),
        labels=_paint(boxes, 2 * HEIGHT, 2 * WIDTH) if labels is None else labels,
        frame_groups=tuple((f, f + 1) for f in range(FRAMES)),
    )


def _tokens(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, FRAMES * HEIGHT * WIDTH, DIM, generator=g)


def _columns(membership: torch.Tensor) -> torch.Tensor:
    """Column index of every token of the FRAMES × HEIGHT × WIDTH grid."""
    return torch.arange(membership.shape[1]) % WIDTH


def test_box_membership_marks_cells_overlapping_the_box():
    layout = _layout([LEFT, RIGHT], [1, 1])
    m = layout.membership(HEIGHT, WIDTH)[0]
    cols = _columns(m[None])
    assert torch.equal(m[:, 0], cols < 3)
    assert torch.equal(m[:, 1], cols >= 4)


def test_box_membership_gives_tiny_objects_a_token_and_absent_objects_none():
    boxes = torch.tensor([[[[0.51, 0.51, 0.52, 0.52], [0.0, 0.0, 1.0, 1.0]]]])  # [1, 1, 2, 4]
    present = torch.tensor([[[True, False]]])
    m = box_membership(boxes, present, 4, 4)[0]
    assert m[:, 0].sum() == 1 and m[2 * 4 + 2, 0]  # the cell holding (0.515, 0.515)
    assert not m[:, 1].any()


def test_allowed_masks_follow_shared_objects_and_background_policy():
    m = torch.tensor([[[True, False], [True, True], [False, True], [False, False]]])
    group = self_attention_allowed(m, m, "group")[0]
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]]).bool()
    assert torch.equal(group, expected)
    everything = self_attention_allowed(m, m, "all")[0]
    assert torch.equal(everything[:3, :3], expected[:3, :3]) and everything[3].all()
    assert not everything[:3, 3].any()
    cross = cross_attention_allowed(m, torch.tensor([[0, 0, 1, -1]]))[0]
    assert torch.equal(cross, torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0],
                                            [0, 0, 0, 0]]).bool())


def test_masked_attention_equals_the_log_mask_formula_and_zeroes_empty_rows():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    allowed = torch.rand(2, 5, 5, generator=g) > 0.5
    allowed[0, 2] = False
    scores = q @ k.transpose(-1, -2) / math.sqrt(4) + torch.log(allowed.float())[:, None]
    expected = torch.nan_to_num(torch.softmax(scores, -1)) @ v
    out = masked_attention(q, k, v, allowed)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.all(out[0, :, 2] == 0)


@pytest.mark.parametrize("background", ["group", "all"])
def test_masked_self_attention_isolates_objects(background):
    torch.manual_seed(0)
    layer = MaskedSelfAttention(DIM, HEADS, background=background, backend="sdpa",
                                zero_init=False)
    m = _layout([LEFT, RIGHT], [1, 1]).membership(HEIGHT, WIDTH)
    x = _tokens()
    in_b = m[0, :, 1]
    perturbed = x.clone()
    perturbed[0, in_b] += 5 * torch.randn(int(in_b.sum()), DIM)
    before, after = layer(x, m), layer(perturbed, m)
    in_a = m[0, :, 0]
    assert torch.allclose(before[0, in_a], after[0, in_a], atol=1e-6)
    assert not torch.allclose(before[0, in_b], after[0, in_b], atol=1e-3)
    if background == "group":  # background tokens do not see objects either
        bg = ~m[0].any(-1)
        assert torch.allclose(before[0, bg], after[0, bg], atol=1e-6)


def test_masked_cross_attention_isolates_local_prompts():
    torch.manual_seed(0)
    layer = MaskedCrossAttention(DIM, CONTEXT, HEADS, zero_init=False)
    layout = _layout([LEFT, RIGHT], [3, 2], pad=2)
    m = layout.membership(HEIGHT, WIDTH)
    x = _tokens()
    changed = layout.local_tokens.clone()
    changed[0, 3:5] += 5.0  # c_local(B)
    changed[0, 5:] -= 7.0  # padding
    before = layer(x, layout.local_tokens, layout.local_token_object, m)
    after = layer(x, changed, layout.local_token_object, m)
    in_a, in_b = m[0, :, 0], m[0, :, 1]
    assert torch.allclose(before[0, in_a], after[0, in_a], atol=1e-6)
    assert not torch.allclose(before[0, in_b], after[0, in_b], atol=1e-3)


def test_background_tokens_pass_cross_attention_unchanged_without_nan():
    torch.manual_seed(0)
    layer = MaskedCrossAttention(DIM, CONTEXT, HEADS, zero_init=False)
    layout = _layout([LEFT, RIGHT], [2, 2])
    m = layout.membership(HEIGHT, WIDTH)
    x = _tokens().requires_grad_()
    out = layer(x, layout.local_tokens, layout.local_token_object, m)
    out.sum().backward()
    bg = ~m[0].any(-1)
    assert bg.any()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert torch.equal(out[0, bg], x[0, bg])


def test_one_object_covering_everything_equals_plain_attention():
    torch.manual_seed(0)
    masked = ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=True,
                             zero_init=False)
    plain = ObjectAttention(DIM, CONTEXT, HEADS, masked_self=False, masked_cross=False,
                            zero_init=False)
    plain.load_state_dict(masked.state_dict())
    layout = _layout([(0.0, 0.0, 1.0, 1.0)], [4])
    x = _tokens()
    grid = (FRAMES, HEIGHT, WIDTH)
    assert torch.allclose(masked(x, layout, grid), plain(x, layout, grid), atol=1e-6)
    # and plain attention is the textbook formula
    layer = plain.self_attention
    h = layer.norm(x)
    q, k, v = layer._split(layer.to_q(h)), layer._split(layer.to_k(h)), layer._split(layer.to_v(h))
    reference = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DIM // HEADS), -1) @ v
    assert torch.allclose(layer(x), x + layer.to_out(layer._merge(reference)), atol=1e-5)


def test_query_chunks_change_nothing():
    torch.manual_seed(0)
    whole = MaskedSelfAttention(DIM, HEADS, backend="sdpa", zero_init=False)
    chunked = MaskedSelfAttention(DIM, HEADS, backend="sdpa", query_chunk=7, zero_init=False)
    chunked.load_state_dict(whole.state_dict())
    m = _layout([LEFT, RIGHT], [1, 1]).membership(HEIGHT, WIDTH)
    x = _tokens()
    assert torch.allclose(whole(x, m), chunked(x, m), atol=1e-6)


def test_zero_initialised_layers_are_the_identity_and_missing_membership_is_an_error():
    layer = ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=True)
    layout = _layout([LEFT], [2])
    x = _tokens()
    assert torch.equal(layer(x, layout, (FRAMES, HEIGHT, WIDTH)), x)
    with pytest.raises(ValueError, match="membership"):
        layer.self_attention(x)
    with pytest.raises(ValueError, match="latent frames"):
        layer(x, layout, (FRAMES + 1, HEIGHT, WIDTH))


def test_cross_attention_without_any_local_prompt_is_the_identity():
    layer = MaskedCrossAttention(DIM, CONTEXT, HEADS, zero_init=False)
    x = _tokens()
    m = _layout([LEFT], [1]).membership(HEIGHT, WIDTH)
    out = layer(x, torch.zeros(1, 0, CONTEXT), torch.zeros(1, 0, dtype=torch.long), m)
    assert torch.equal(out, x)


def test_a_layout_without_objects_leaves_one_background_group():
    torch.manual_seed(0)
    masked = ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=True,
                             zero_init=False)
    plain_self = MaskedSelfAttention(DIM, HEADS, masked=False, zero_init=False)
    plain_self.load_state_dict(masked.self_attention.state_dict())
    layout = ObjectLayout(torch.zeros(1, FRAMES, 0, 4), torch.zeros(1, FRAMES, 0, dtype=torch.bool),
                          torch.randn(1, 1, CONTEXT), torch.tensor([[-1]]),
                          torch.zeros(1, FRAMES, HEIGHT, WIDTH, dtype=torch.uint8),
                          tuple((f, f + 1) for f in range(FRAMES)))
    x = _tokens()
    # everything is background: self-attention is plain, cross-attention has nothing to read
    assert torch.allclose(masked(x, layout, (FRAMES, HEIGHT, WIDTH)), plain_self(x), atol=1e-6)


# --- the mask rule of M_self, its backends, and grids that are not square -----------------

# object 1 is a Γ (top row and left column), object 2 a block in the bottom-right corner: the
# boxes overlap (object 1's box is the whole grid), the masks do not
GAMMA_HEIGHT, GAMMA_WIDTH = 6, 8


def _gamma_layout() -> ObjectLayout:
    labels = torch.zeros(1, FRAMES, GAMMA_HEIGHT, GAMMA_WIDTH, dtype=torch.uint8)
    labels[..., 0, :] = 1
    labels[..., :, 0] = 1
    labels[..., 3:, 5:] = 2
    boxes = [(0.0, 0.0, 1.0, 1.0), (5 / 8, 3 / 6, 1.0, 1.0)]
    return _layout(boxes, [1, 1], labels=labels)


@pytest.mark.parametrize("rule", ["mask", "box"])
def test_objects_with_overlapping_boxes_and_disjoint_masks_attend_only_under_the_box_rule(rule):
    torch.manual_seed(0)
    layer = ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=False,
                            self_membership=rule, zero_init=False)
    layout = _gamma_layout()
    grid = (FRAMES, GAMMA_HEIGHT, GAMMA_WIDTH)
    ids = layout.object_ids(GAMMA_HEIGHT, GAMMA_WIDTH)[0]
    x = _tokens_on(grid)
    perturbed = x.clone()
    perturbed[0, ids == 2] += 5 * torch.randn(int((ids == 2).sum()), DIM)
    before, after = layer(x, layout, grid), layer(perturbed, layout, grid)
    gamma = ids == 1
    leaked = not torch.allclose(before[0, gamma], after[0, gamma], atol=1e-5)
    assert leaked == (rule == "box")


def _tokens_on(grid: tuple[int, int, int], seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, grid[0] * grid[1] * grid[2], DIM, generator=g)


def test_mask_ids_take_the_largest_area_per_space_time_cell_with_ties_to_the_lowest_label():
    # 2 latent frames over 3 video frames (causal grouping: [0, 1), [1, 3)), a 1 × 2 grid of
    # 2 × 3-pixel cells on a 2 × 6 image
    labels = torch.zeros(1, 3, 2, 6, dtype=torch.uint8)
    labels[0, 0, :, 0:2] = 1  # frame 0, left cell: object 1 has 4 of 6 pixels
    labels[0, 0, :, 3] = 2  # right cell: object 2 has 2 of 6, background 4
    labels[0, 1, :, 0:3] = 2  # latent frame 1, left cell: object 2 6 pixels (frame 1) …
    labels[0, 2, :, 0:3] = 1  # … object 1 6 pixels (frame 2): a tie → object 1
    labels[0, 1:, 0, 3:6] = 2  # right cell: object 2 6 of 12 pixels, background 6: tie → 0
    ids = mask_object_ids(labels, ((0, 1), (1, 3)), 2, 1, 2)
    assert ids.tolist() == [[1, 0, 1, 0]]


def test_mask_ids_and_boxes_keep_rows_and_columns_apart_on_non_square_grids():
    # a 2 × 3 grid (rows × columns) from a 4 × 6 image; the object fills row 1, column 2
    labels = torch.zeros(1, 1, 4, 6, dtype=torch.uint8)
    labels[0, 0, 2:4, 4:6] = 1
    ids = mask_object_ids(labels, ((0, 1),), 1, 2, 3)[0]
    assert ids.tolist() == [0, 0, 0, 0, 0, 1]  # (row, column) order: token 1·3 + 2
    box = torch.tensor([[[[4 / 6, 2 / 4, 1.0, 1.0]]]])  # x0, y0, x1, y1
    member = box_membership(box, torch.ones(1, 1, 1, dtype=torch.bool), 2, 3)[0, :, 0]
    assert member.tolist() == [False] * 5 + [True]
    wide = torch.tensor([[[[0.0, 0.0, 1.0, 0.5]]]])  # the top row only
    member = box_membership(wide, torch.ones(1, 1, 1, dtype=torch.bool), 2, 3)[0, :, 0]
    assert member.tolist() == [True] * 3 + [False] * 3


def test_ids_outside_the_frame_groups_or_the_object_count_are_an_error():
    with pytest.raises(ValueError, match="do not cover"):
        mask_object_ids(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), ((0, 2),), 1, 1, 1)
    with pytest.raises(ValueError, match="label 2, the layout has 1 objects"):
        mask_object_ids(torch.full((1, 1, 2, 2), 2, dtype=torch.uint8), ((0, 1),), 1, 1, 1)
    layout = dataclasses.replace(_layout([LEFT], [1]), labels=None)
    with pytest.raises(ValueError, match="label maps"):
        layout.object_ids(HEIGHT, WIDTH)


def _qkv(tokens: int, seed: int = 5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, HEADS, tokens, 4, generator=g, dtype=torch.float64,
                             requires_grad=True) for _ in range(3))


@pytest.mark.parametrize("background", ["group", "all"])
def test_grouped_attention_equals_the_dense_reference_in_outputs_and_gradients(background):
    ids = torch.randint(0, 4, (2, 40), generator=torch.Generator().manual_seed(2))
    ids[1] = ids[1].clamp(min=1)  # a sample without background
    q, k, v = _qkv(40)
    grouped = grouped_attention(q, k, v, ids, background)
    allowed = self_attention_allowed(ids_membership(ids, 3), ids_membership(ids, 3), background)
    dense = masked_attention(q, k, v, allowed)
    assert torch.allclose(grouped, dense, atol=1e-5)
    weights = torch.randn_like(dense)
    grads = torch.autograd.grad((grouped * weights).sum(), (q, k, v))
    expected = torch.autograd.grad((dense * weights).sum(), (q, k, v))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, expected, strict=True))


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize(("rule", "background"), [("mask", "group"), ("box", "group"),
                                                  ("mask", "all")])
def test_flex_backend_equals_the_dense_reference_forward_and_refuses_cpu_training(rule,
                                                                                  background):
    torch.manual_seed(0)
    options = dict(masked_self=True, masked_cross=True, self_membership=rule,
                   background=background, zero_init=False)
    dense = ObjectAttention(DIM, CONTEXT, HEADS, backend="sdpa", **options)
    flex = ObjectAttention(DIM, CONTEXT, HEADS, backend="flex", **options)
    flex.load_state_dict(dense.state_dict())
    layout, grid = _gamma_layout(), (FRAMES, GAMMA_HEIGHT, GAMMA_WIDTH)
    x = _tokens_on(grid)
    with torch.no_grad():
        assert torch.allclose(flex(x, layout, grid), dense(x, layout, grid), atol=1e-5)
    with pytest.raises(RuntimeError, match="no backward on CPU"):
        flex(x.requires_grad_(), layout, grid)


def test_grouped_backend_rejects_the_box_rule_and_unknown_names():
    with pytest.raises(ValueError, match="partition"):
        ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=True,
                        self_membership="box", backend="grouped")
    with pytest.raises(ValueError, match="self_membership"):
        ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=True,
                        self_membership="boxes")
    with pytest.raises(ValueError, match="backend"):
        MaskedSelfAttention(DIM, HEADS, backend="dense")


def test_gradient_checkpointing_changes_no_gradient():
    torch.manual_seed(0)
    layer = ObjectAttention(DIM, CONTEXT, HEADS, masked_self=True, masked_cross=True,
                            zero_init=False)
    layout, grid = _gamma_layout(), (FRAMES, GAMMA_HEIGHT, GAMMA_WIDTH)
    x = _tokens_on(grid)

    def gradients() -> list[torch.Tensor]:
        layer.zero_grad()
        layer(x, layout, grid).square().sum().backward()
        return [p.grad.clone() for p in layer.parameters()]

    plain = gradients()
    layer.gradient_checkpointing = True
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gradients(), plain, strict=True))


def test_memory_benchmark_fits_the_growth_exponent_and_measures_a_step():
    from reference_impl.ttm.bench_memory import growth_exponent, step_peak_mib

    assert growth_exponent([1024, 4096, 16384], [3.0, 12.0, 48.0]) == pytest.approx(1.0)
    assert growth_exponent([1, 2, 4], [1.0, 4.0, 16.0]) == pytest.approx(2.0)
    assert step_peak_mib("grouped", 256) >= 0.0
