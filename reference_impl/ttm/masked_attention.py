"""Masked self- and cross-attention: the layers that tie each object to its own tokens and prompt.

Both layers compute softmax(q kᵀ/√d + log M) v with a boolean M (True = may attend).

Token membership (which objects a latent token belongs to), per block latent grid F × h × w:

- M_self, rule `"mask"` (default, the paper's: object membership in ŝ). Every token gets exactly
  one label, 0 (background) or k (object k): the label with the largest pixel count in the
  token's space-time cell, i.e. the video pixels of its (row, column) cell over the video frames
  its latent frame encodes (`trajectories.latent_frame_groups`). Background counts as a label;
  ties go to the lowest label (so background wins a tie). An object thinner than half a cell
  can own no token on a coarse grid; M_cross still reaches it through its box.
  (`ObjectLayout.object_ids`).
- M_self, rule `"box"` (an ablation; the rule of checkpoints of format 1): a token belongs to
  every object whose box (union over the latent frame's video frames) overlaps its cell with
  positive area; a token in several boxes belongs to all of them and attends to every token
  sharing at least one of its objects.
- M_cross always uses the boxes, as the paper does: a token attends the local prompts of every
  object whose box covers it.

Choices where the paper is silent (documented here, configurable where it matters):

- Tokens outside every object ("background") form one more group: in masked self-attention
  they attend to each other (`background="group"`, default) or to every token
  (`background="all"`). Object tokens never attend to background tokens.
- In masked cross-attention a background token has no prompt to attend to. Its row of M is all
  False; instead of the NaN a plain softmax would give, its attention output is exactly zero, so
  the residual layer leaves it unchanged. The same holds for any fully masked row.
- An object absent from a frame has no tokens in that frame.
- The layers are residual extras (x + W_o·attn(LN(x))) whose output projection is zero-initialised
  by default, so inserting them into a pretrained network leaves its function unchanged at step 0.
- Unmasked variants (`masked=False`) are the same layers without M: the TI2V baseline and the
  ablations use them at the same positions.

Backends of masked self-attention (`backend`), all equal up to float rounding:

- `"grouped"` (default): under the mask rule the labels partition the tokens, so tokens are
  sorted by label and each group attends within itself with unmasked SDPA. No N × N tensor
  exists in the forward or the autograd graph: memory is linear in N (O(N·d) per group, plus
  what SDPA keeps for backward). Not available for the box rule (its memberships overlap).
- `"flex"`: FlexAttention with a `mask_mod` over the token labels (or membership bit sets for
  the box rule, ≤ 63 objects); block-sparse, fully masked blocks are skipped (compiled on GPU).
  PyTorch implements its backward on GPU only: on CPU it runs forward only (eager, unfused,
  which materialises the scores) and raises when gradients are required.
- `"sdpa"`: the dense reference, SDPA with a boolean mask per chunk of `query_chunk` queries.
  `query_chunk` bounds the memory of inference only: under autograd every chunk's mask and
  attention stay in the graph, so training memory grows as N².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

Background = Literal["group", "all"]
SelfMembership = Literal["mask", "box"]
Backend = Literal["grouped", "flex", "sdpa"]
SELF_MEMBERSHIPS: tuple[str, ...] = ("mask", "box")
BACKENDS: tuple[str, ...] = ("grouped", "flex", "sdpa")
ObjectLayerFactory = Callable[[int], "ObjectAttention"]  # block width → its object layers


@dataclass(frozen=True)
class ObjectLayout:
    """Where each object is on the latent frames, and the tokens of its local prompt.

    boxes: float [B, F, L, 4], normalised (x0, y0, x1, y1) in [0, 1] per latent frame.
    present: bool [B, F, L], whether object l appears in latent frame f.
    local_tokens: float [B, S, D], the embeddings of all c_local(l), concatenated.
    local_token_object: long [B, S], the object index of each local token; -1 marks padding.
    labels: uint8 [B, T, H, W] label maps of the video frames (0 background, k object k), or
        None when no layer needs the mask rule.
    frame_groups: the [start, stop) video frames each of the F latent frames encodes.
    """

    boxes: torch.Tensor
    present: torch.Tensor
    local_tokens: torch.Tensor
    local_token_object: torch.Tensor
    labels: torch.Tensor | None = None
    frame_groups: tuple[tuple[int, int], ...] = ()
    _ids: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict, compare=False,
                                                      repr=False)

    def membership(self, height: int, width: int) -> torch.Tensor:
        """Box membership on an F × height × width grid: bool [B, F·height·width, L]."""
        return box_membership(self.boxes, self.present, height, width)

    def object_ids(self, height: int, width: int) -> torch.Tensor:
        """Mask-rule label of every token of an F × height × width grid: long [B, F·h·w]
        (0 background, k object k); cached per grid."""
        if self.labels is None:
            raise ValueError("the mask rule of M_self needs the trajectory's label maps; build "
                             "the layout with labels (conditioning.object_layout)")
        if (height, width) not in self._ids:
            self._ids[height, width] = mask_object_ids(self.labels, self.frame_groups,
                                                       self.boxes.shape[2], height, width)
        return self._ids[height, width]


def mask_object_ids(labels: torch.Tensor, frame_groups: tuple[tuple[int, int], ...],
                    objects: int, height: int, width: int) -> torch.Tensor:
    """The label with the largest pixel count in each token's space-time cell (ties: lowest).

    labels: integer [B, T, H, W] (0 background, k object k ≤ objects); frame_groups: F ranges
    of video frames. Pixel row y falls in cell row ⌊y·height/H⌋ (likewise columns). Returns
    long [B, F·height·width] in (frame, row, column) order.
    """
    batch, frames, pixel_h, pixel_w = labels.shape
    device = labels.device
    latent_of_frame = torch.full((frames,), -1, dtype=torch.long, device=device)
    for f, (start, stop) in enumerate(frame_groups):
        latent_of_frame[start:stop] = f
    if len(frame_groups) == 0 or bool((latent_of_frame < 0).any()):
        raise ValueError(f"frame_groups {frame_groups} do not cover the {frames} label frames")
    row = torch.arange(pixel_h, device=device) * height // pixel_h
    col = torch.arange(pixel_w, device=device) * width // pixel_w
    cell = ((latent_of_frame[:, None, None] * height + row[None, :, None]) * width
            + col[None, None, :])  # [T, H, W]
    classes = objects + 1
    if labels.numel() and int(labels.max()) > objects:
        raise ValueError(f"label maps hold label {int(labels.max())}, the layout has {objects} "
                         "objects; decode the trajectory with the layout's object count")
    index = cell[None] * classes + labels.long()  # [B, T, H, W]
    counts = torch.zeros(batch, len(frame_groups) * height * width * classes,
                         dtype=torch.int32, device=device)
    counts.scatter_add_(1, index.reshape(batch, -1),
                        torch.ones(1, 1, dtype=torch.int32, device=device).expand(batch,
                                                                                  index[0].numel()))
    return counts.view(batch, -1, classes).argmax(-1)  # argmax returns the first maximum


def ids_membership(ids: torch.Tensor, objects: int) -> torch.Tensor:
    """Labels long [B, N] (0 background) → one-hot object membership bool [B, N, L]."""
    return F.one_hot(ids, objects + 1)[..., 1:].bool()


def box_membership(boxes: torch.Tensor, present: torch.Tensor, height: int, width: int,
                   ) -> torch.Tensor:
    """Which object boxes cover each token of an F × height × width grid.

    A token belongs to an object when its grid cell overlaps the object's box with positive
    area, so every present object owns at least one token however small it is.
    boxes: float [B, F, L, 4] normalised xyxy; present: bool [B, F, L].
    Returns bool [B, F·height·width, L], tokens in (frame, row, column) order.
    """
    device = boxes.device
    cell_y0 = torch.arange(height, device=device, dtype=boxes.dtype) / height
    cell_x0 = torch.arange(width, device=device, dtype=boxes.dtype) / width
    x0, y0, x1, y1 = (boxes[..., i, None] for i in range(4))  # [B, F, L, 1]
    in_rows = (y0 < cell_y0 + 1 / height) & (y1 > cell_y0)  # [B, F, L, h]
    in_cols = (x0 < cell_x0 + 1 / width) & (x1 > cell_x0)  # [B, F, L, w]
    inside = in_rows[..., :, None] & in_cols[..., None, :] & present[..., None, None]
    batch, frames, objects = present.shape
    return inside.permute(0, 1, 3, 4, 2).reshape(batch, frames * height * width, objects)


def self_attention_allowed(query_membership: torch.Tensor, key_membership: torch.Tensor,
                           background: Background = "group") -> torch.Tensor:
    """M_self: query token i may attend key token j iff they share an object.

    query_membership: bool [B, Nq, L]; key_membership: bool [B, Nk, L].
    Returns bool [B, Nq, Nk]. Background tokens (in no object) follow `background`.
    """
    query_bg = ~query_membership.any(-1, keepdim=True)
    key_bg = ~key_membership.any(-1, keepdim=True)
    if background == "group":
        query_groups = torch.cat([query_membership, query_bg], -1).float()
        key_groups = torch.cat([key_membership, key_bg], -1).float()
        return query_groups @ key_groups.transpose(1, 2) > 0
    if background == "all":
        shared = query_membership.float() @ key_membership.float().transpose(1, 2) > 0
        return shared | query_bg
    raise ValueError(f"background must be 'group' or 'all', got {background!r}")


def cross_attention_allowed(membership: torch.Tensor, token_object: torch.Tensor) -> torch.Tensor:
    """M_cross: a latent token may attend the prompt tokens of the objects it belongs to.

    membership: bool [B, N, L]; token_object: long [B, S] (object of each prompt token, -1 =
    padding). Returns bool [B, N, S].
    """
    objects = membership.shape[-1]
    if objects == 0:
        return torch.zeros(*membership.shape[:2], token_object.shape[1], dtype=torch.bool,
                           device=membership.device)
    owner = F.one_hot(token_object.clamp(min=0), objects).float()  # [B, S, L]
    owner = owner * (token_object >= 0)[..., None]
    return membership.float() @ owner.transpose(1, 2) > 0


def masked_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     allowed: torch.Tensor | None) -> torch.Tensor:
    """softmax(q kᵀ/√d + log M) v with zero output for rows where M allows nothing.

    query: [B, H, Nq, d]; key, value: [B, H, Nk, d]; allowed: bool [B, Nq, Nk] or None (no mask).
    Returns [B, H, Nq, d].
    """
    if allowed is None:
        return F.scaled_dot_product_attention(query, key, value)
    has_any = allowed.any(-1, keepdim=True)  # [B, Nq, 1]
    safe = (allowed | ~has_any)[:, None]  # fully masked rows attend everywhere, then get zeroed
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=safe)
    return out * has_any[:, None].to(out.dtype)


def grouped_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      ids: torch.Tensor, background: Background = "group") -> torch.Tensor:
    """Self-attention within the groups of a partition, without any N × N mask.

    query, key, value: [B, H, N, d]; ids: long [B, N] (0 background, k object k). Token i attends
    token j iff ids match; with `background="all"` background tokens attend every token.
    Tokens are gathered per group, attend with unmasked SDPA, and are scattered back.
    Returns [B, H, N, d], equal to `masked_attention` with M_self of the same labels.
    """
    outputs = []
    for b in range(query.shape[0]):
        pieces, order = [], []
        for group in torch.unique(ids[b]).tolist():
            index = torch.nonzero(ids[b] == group).squeeze(1)
            q = query[b:b + 1].index_select(2, index)
            if group == 0 and background == "all":
                k, v = key[b:b + 1], value[b:b + 1]
            else:
                k, v = key[b:b + 1].index_select(2, index), value[b:b + 1].index_select(2, index)
            pieces.append(F.scaled_dot_product_attention(q, k, v))
            order.append(index)
        outputs.append(torch.cat(pieces, 2).index_select(2, torch.argsort(torch.cat(order))))
    return torch.cat(outputs)


def flex_self_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        groups: torch.Tensor, background: Background = "group") -> torch.Tensor:
    """M_self through FlexAttention's `mask_mod`: GPU training, CPU inference only.

    groups: long [B, N], the bit set of each token's objects (bit l-1 for object l; 0 =
    background; the mask rule's labels k become 1 << (k-1)). Returns [B, H, N, d].
    """
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    if query.device.type == "cpu" and torch.is_grad_enabled() and query.requires_grad:
        raise RuntimeError("PyTorch's FlexAttention has no backward on CPU; train with "
                           "attention_backend 'grouped' (or 'sdpa') or on a GPU")
    everything = background == "all"

    def allowed(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, k: torch.Tensor,
                ) -> torch.Tensor:
        gq, gk = groups[b, q], groups[b, k]
        same = ((gq & gk) != 0) | ((gq == 0) & (gk == 0))
        return same | (gq == 0) if everything else same

    batch, _, tokens, _ = query.shape
    mask = create_block_mask(allowed, batch, None, tokens, tokens, device=query.device.type)
    # fused kernels need torch.compile; on CPU the eager (unfused) path serves the tests
    attend = torch.compile(flex_attention) if query.is_cuda else flex_attention
    return attend(query, key, value, block_mask=mask)


class _ResidualAttention(nn.Module):
    """Pre-norm residual attention: x + W_o · attention(LN(x)), W_o optionally zero-initialised."""

    def __init__(self, dim: int, heads: int, context_dim: int, zero_init: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        # no bias, so that a zero attention output (a fully masked row) leaves the token unchanged
        self.to_out = nn.Linear(dim, dim, bias=False)
        if zero_init:
            nn.init.zeros_(self.to_out.weight)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        return x.view(batch, tokens, self.heads, dim // self.heads).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        batch, heads, tokens, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, tokens, heads * head_dim)


def _object_bits(membership: torch.Tensor) -> torch.Tensor:
    """Membership bool [B, N, L] → bit set long [B, N] (bit l for object l+1)."""
    if membership.shape[-1] > 63:
        raise ValueError(f"{membership.shape[-1]} objects: the flex backend holds at most 63")
    weights = 2 ** torch.arange(membership.shape[-1], device=membership.device)
    return (membership.long() * weights).sum(-1)


class MaskedSelfAttention(_ResidualAttention):
    """Self-attention over all tokens of all frames, restricted to tokens of the same object.

    x: float [B, N, C] with N = F·h·w. The mask comes either as `ids` long [B, N] (mask rule:
    one label per token, 0 background) or as `membership` bool [B, N, L] (box rule); both are
    ignored when `masked=False`. `backend`: "grouped" (ids only), "flex" or "sdpa" (see the
    module docstring). Returns float [B, N, C].
    """

    def __init__(self, dim: int, heads: int, *, masked: bool = True,
                 background: Background = "group", backend: Backend = "grouped",
                 query_chunk: int | None = None, zero_init: bool = True):
        super().__init__(dim, heads, dim, zero_init)
        if backend not in BACKENDS:
            raise ValueError(f"attention backend must be one of {BACKENDS}, got {backend!r}")
        self.masked, self.background = masked, background
        self.backend, self.query_chunk = backend, query_chunk

    def forward(self, x: torch.Tensor, membership: torch.Tensor | None = None,
                ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.masked and (membership is None) == (ids is None):
            raise ValueError("masked self-attention needs the token membership (box rule) or "
                             "the token ids (mask rule), exactly one of them")
        h = self.norm(x)
        q, k, v = self._split(self.to_q(h)), self._split(self.to_k(h)), self._split(self.to_v(h))
        if not self.masked:
            out = masked_attention(q, k, v, None)
        elif self.backend == "grouped":
            if ids is None:
                raise ValueError("the grouped backend needs a partition (the mask rule); use "
                                 "attention_backend 'sdpa' or 'flex' with the box rule")
            out = grouped_attention(q, k, v, ids, self.background)
        elif self.backend == "flex":
            bits = _object_bits(membership) if ids is None else torch.where(
                ids > 0, torch.bitwise_left_shift(torch.ones_like(ids), ids - 1), 0)
            out = flex_self_attention(q, k, v, bits, self.background)
        else:
            if membership is None:
                membership = ids_membership(ids, int(ids.max()))
            out = self._dense(q, k, v, membership)
        return x + self.to_out(self._merge(out))

    def _dense(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, membership: torch.Tensor,
               ) -> torch.Tensor:
        chunk = self.query_chunk or q.shape[2]
        outputs = []
        for start in range(0, q.shape[2], chunk):
            allowed = self_attention_allowed(membership[:, start:start + chunk], membership,
                                             self.background)
            outputs.append(masked_attention(q[:, :, start:start + chunk], k, v, allowed))
        return torch.cat(outputs, dim=2)


class MaskedCrossAttention(_ResidualAttention):
    """Cross-attention from latent tokens to the local prompts, each token to its objects' only.

    x: float [B, N, C]; local_tokens: float [B, S, D]; membership: bool [B, N, L] (boxes);
    token_object: long [B, S]. With `masked=False` every token attends every (non-padding) local
    prompt token. Memory is O(N·S), linear in N. Returns float [B, N, C].
    """

    def __init__(self, dim: int, context_dim: int, heads: int, *, masked: bool = True,
                 zero_init: bool = True):
        super().__init__(dim, heads, context_dim, zero_init)
        self.masked = masked

    def forward(self, x: torch.Tensor, local_tokens: torch.Tensor, token_object: torch.Tensor,
                membership: torch.Tensor | None = None) -> torch.Tensor:
        if local_tokens.shape[1] == 0:
            return x  # no local prompt tokens at all: nothing to attend to
        if self.masked:
            if membership is None:
                raise ValueError("masked cross-attention needs the token membership")
            allowed = cross_attention_allowed(membership, token_object)
        else:
            allowed = (token_object >= 0)[:, None, :].expand(-1, x.shape[1], -1)
        h = self.norm(x)
        q = self._split(self.to_q(h))
        k, v = self._split(self.to_k(local_tokens)), self._split(self.to_v(local_tokens))
        return x + self.to_out(self._merge(masked_attention(q, k, v, allowed)))


class ObjectAttention(nn.Module):
    """The extra layers of one block: (masked) self-attention, then (masked) cross-attention.

    Operates on tokens laid out as [B, F·h·w, C] on an F × h × w grid. `self_membership` is the
    rule of M_self ("mask" or "box"); M_cross always uses boxes. `backend` None picks "grouped"
    for the mask rule and "sdpa" for the box rule. Set `gradient_checkpointing` to recompute the
    two layers in the backward pass instead of keeping their activations.
    """

    def __init__(self, dim: int, context_dim: int, heads: int, *, masked_self: bool,
                 masked_cross: bool, background: Background = "group",
                 self_membership: SelfMembership = "mask", backend: Backend | None = None,
                 query_chunk: int | None = None, zero_init: bool = True):
        super().__init__()
        if self_membership not in SELF_MEMBERSHIPS:
            raise ValueError(f"self_membership must be one of {SELF_MEMBERSHIPS}, "
                             f"got {self_membership!r}")
        if backend is None:
            backend = "grouped" if self_membership == "mask" else "sdpa"
        if masked_self and self_membership == "box" and backend == "grouped":
            raise ValueError("the box rule's memberships overlap, the grouped backend needs a "
                             "partition; use attention_backend 'sdpa' or 'flex'")
        self.self_membership = self_membership
        self.gradient_checkpointing = False
        self.self_attention = MaskedSelfAttention(dim, heads, masked=masked_self,
                                                  background=background, backend=backend,
                                                  query_chunk=query_chunk, zero_init=zero_init)
        self.cross_attention = MaskedCrossAttention(dim, context_dim, heads, masked=masked_cross,
                                                    zero_init=zero_init)

    def forward(self, x: torch.Tensor, layout: ObjectLayout, grid: tuple[int, int, int],
                ) -> torch.Tensor:
        frames, _, _ = grid
        if layout.boxes.shape[1] != frames:
            raise ValueError(f"layout has {layout.boxes.shape[1]} latent frames, tokens {frames}")
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(self._attend, x, layout, grid, use_reentrant=False)
        return self._attend(x, layout, grid)

    def _attend(self, x: torch.Tensor, layout: ObjectLayout, grid: tuple[int, int, int],
                ) -> torch.Tensor:
        _, height, width = grid
        boxes = layout.membership(height, width)
        if not self.self_attention.masked:
            x = self.self_attention(x)
        elif self.self_membership == "mask":
            x = self.self_attention(x, ids=layout.object_ids(height, width))
        else:
            x = self.self_attention(x, membership=boxes)
        return self.cross_attention(x, layout.local_tokens, layout.local_token_object,
                                    boxes if self.cross_attention.masked else None)
