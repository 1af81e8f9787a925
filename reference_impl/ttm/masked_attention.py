"""Masked self- and cross-attention: the layers that tie each object to its own tokens and prompt.

Both layers compute softmax(q kᵀ/√d + log M) v with a boolean M (True = may attend) on
`torch.nn.functional.scaled_dot_product_attention`. Token membership comes from the objects'
boxes rasterised on the latent token grid (`box_membership`).

Choices where the paper is silent (documented here, configurable where it matters):

- Tokens outside every object ("background") form one more group: in masked self-attention
  they attend to each other (`background="group"`, default) or to every token
  (`background="all"`). Object tokens never attend to background tokens.
- A token inside several (overlapping) boxes belongs to all of them: it attends to every token
  sharing at least one of its objects, and to the local prompts of all of its objects.
- In masked cross-attention a background token has no prompt to attend to. Its row of M is all
  False; instead of the NaN a plain softmax would give, its attention output is exactly zero, so
  the residual layer leaves it unchanged. The same holds for any fully masked row.
- An object absent from a frame has no tokens in that frame (its `present` flag is False).
- The layers are residual extras (x + W_o·attn(LN(x))) whose output projection is zero-initialised
  by default, so inserting them into a pretrained network leaves its function unchanged at step 0.
- Unmasked variants (`masked=False`) are the same layers without M: the TI2V baseline and the
  ablations use them at the same positions.

Self-attention over all frames is quadratic in F·h·w tokens; `query_chunk` bounds the memory of
the mask and the attention to chunk × N instead of N × N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Background = Literal["group", "all"]
ObjectLayerFactory = Callable[[int], "ObjectAttention"]  # block width → its object layers


@dataclass(frozen=True)
class ObjectLayout:
    """Where each object is on the latent frames, and the tokens of its local prompt.

    boxes: float [B, F, L, 4], normalised (x0, y0, x1, y1) in [0, 1] per latent frame.
    present: bool [B, F, L], whether object l appears in latent frame f.
    local_tokens: float [B, S, D], the embeddings of all c_local(l), concatenated.
    local_token_object: long [B, S], the object index of each local token; -1 marks padding.
    """

    boxes: torch.Tensor
    present: torch.Tensor
    local_tokens: torch.Tensor
    local_token_object: torch.Tensor

    def membership(self, height: int, width: int) -> torch.Tensor:
        """Token membership on an F × height × width grid: bool [B, F·height·width, L]."""
        return box_membership(self.boxes, self.present, height, width)


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


class MaskedSelfAttention(_ResidualAttention):
    """Self-attention over all tokens of all frames, restricted to tokens of the same object.

    x: float [B, N, C] with N = F·h·w; membership: bool [B, N, L] (ignored when `masked=False`).
    Returns float [B, N, C].
    """

    def __init__(self, dim: int, heads: int, *, masked: bool = True,
                 background: Background = "group", query_chunk: int | None = None,
                 zero_init: bool = True):
        super().__init__(dim, heads, dim, zero_init)
        self.masked, self.background, self.query_chunk = masked, background, query_chunk

    def forward(self, x: torch.Tensor, membership: torch.Tensor | None = None) -> torch.Tensor:
        if self.masked and membership is None:
            raise ValueError("masked self-attention needs the token membership")
        h = self.norm(x)
        q, k, v = self._split(self.to_q(h)), self._split(self.to_k(h)), self._split(self.to_v(h))
        chunk = self.query_chunk or x.shape[1]
        outputs = []
        for start in range(0, x.shape[1], chunk):
            stop = start + chunk
            allowed = None
            if self.masked:
                allowed = self_attention_allowed(membership[:, start:stop], membership,
                                                 self.background)
            outputs.append(masked_attention(q[:, :, start:stop], k, v, allowed))
        return x + self.to_out(self._merge(torch.cat(outputs, dim=2)))


class MaskedCrossAttention(_ResidualAttention):
    """Cross-attention from latent tokens to the local prompts, each token to its objects' only.

    x: float [B, N, C]; local_tokens: float [B, S, D]; membership: bool [B, N, L];
    token_object: long [B, S]. With `masked=False` every token attends every (non-padding) local
    prompt token. Returns float [B, N, C].
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

    Operates on tokens laid out as [B, F·h·w, C] on an F × h × w grid.
    """

    def __init__(self, dim: int, context_dim: int, heads: int, *, masked_self: bool,
                 masked_cross: bool, background: Background = "group",
                 query_chunk: int | None = None, zero_init: bool = True):
        super().__init__()
        self.self_attention = MaskedSelfAttention(dim, heads, masked=masked_self,
                                                  background=background,
                                                  query_chunk=query_chunk, zero_init=zero_init)
        self.cross_attention = MaskedCrossAttention(dim, context_dim, heads, masked=masked_cross,
                                                    zero_init=zero_init)

    @property
    def needs_membership(self) -> bool:
        return self.self_attention.masked or self.cross_attention.masked

    def forward(self, x: torch.Tensor, layout: ObjectLayout, grid: tuple[int, int, int],
                ) -> torch.Tensor:
        frames, height, width = grid
        if layout.boxes.shape[1] != frames:
            raise ValueError(f"layout has {layout.boxes.shape[1]} latent frames, tokens {frames}")
        membership = layout.membership(height, width) if self.needs_membership else None
        x = self.self_attention(x, membership)
        return self.cross_attention(x, layout.local_tokens, layout.local_token_object, membership)
