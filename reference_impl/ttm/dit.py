"""A compact video DiT after Movie Gen, with object layers in its first blocks.

Latents [B, C, F, h, w] (noisy and conditions concatenated on channels) are cut into
1 × p × p patches and embedded; learned factorised positional embeddings (time, row, column)
are added. Each block: adaLN-modulated full 3D self-attention (QK RMS-norm), cross-attention to
the prompt, adaLN-modulated MLP; the first `object_blocks` blocks (10 of 40 at real scale) add
the object layers after the cross-attention. The timestep conditions the blocks through adaLN
(shift, scale, gate), gates start at zero and the output projection is zero-initialised, so a
fresh model predicts 0. New condition channels of the patch embedding start at zero as in the
U-Net.

Choice (the paper is silent): the object layers act on patch tokens, so the latent grid of the
membership is (F, h/p, w/p).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from reference_impl.ttm.masked_attention import (
    ObjectAttention,
    ObjectLayerFactory,
    ObjectLayout,
)


def timestep_embedding(timestep: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of float timesteps [B] (0 … 1000) → [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=timestep.device) / half)
    angles = timestep.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.q_norm, self.k_norm = nn.RMSNorm(dim // heads), nn.RMSNorm(dim // heads)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        batch, tokens, dim = x.shape
        context = x if context is None else context
        q = self.to_q(x).view(batch, tokens, self.heads, -1).transpose(1, 2)
        k, v = self.to_kv(context).view(batch, context.shape[1], 2, self.heads, -1).unbind(2)
        q, k, v = self.q_norm(q), self.k_norm(k.transpose(1, 2)), v.transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(batch, tokens, dim))


class DiTBlock(nn.Module):
    """One transformer block; `objects` (optional) runs after the cross-attention."""

    def __init__(self, dim: int, heads: int, text_dim: int, mlp_ratio: float,
                 objects: ObjectAttention | None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.self_attention = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attention = _Attention(dim, heads, text_dim)
        self.objects = objects
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, text: torch.Tensor,
                layout: ObjectLayout | None, grid: tuple[int, int, int]) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(emb)[:, None].chunk(6, -1)
        x = x + gate1 * self.self_attention(self.norm1(x) * (1 + scale1) + shift1)
        x = x + self.cross_attention(self.norm2(x), text)
        if self.objects is not None:
            x = self.objects(x, layout, grid)
        return x + gate2 * self.mlp(self.norm3(x) * (1 + scale2) + shift2)


class TTMDiT(nn.Module):
    """Denoiser: (noisy, t, conditions, text, layout) → prediction, all latents [B, C, F, h, w].

    dim, depth, heads, patch_size, mlp_ratio: the transformer; max_frames/max_height/max_width:
    the largest latent grid the positional embeddings cover; object_layer(dim) builds the
    object layers of the first `object_blocks` blocks.
    """

    def __init__(self, *, in_channels: int, out_channels: int, text_dim: int, dim: int,
                 depth: int, heads: int, patch_size: int, max_frames: int, max_height: int,
                 max_width: int, object_layer: ObjectLayerFactory, object_blocks: int,
                 mlp_ratio: float = 4.0):
        super().__init__()
        if object_blocks > depth:
            raise ValueError(f"{object_blocks} object blocks requested, the DiT has {depth}")
        self.patch, self.out_channels = patch_size, out_channels
        self.patch_embed = nn.Conv3d(in_channels, dim, (1, patch_size, patch_size),
                                     (1, patch_size, patch_size))
        with torch.no_grad():  # condition channels start at zero, like the U-Net's conv_in
            self.patch_embed.weight[:, out_channels:] = 0
        self.pos_time = nn.Parameter(torch.zeros(max_frames, dim))
        self.pos_row = nn.Parameter(torch.zeros(max_height // patch_size, dim))
        self.pos_col = nn.Parameter(torch.zeros(max_width // patch_size, dim))
        for p in (self.pos_time, self.pos_row, self.pos_col):
            nn.init.normal_(p, std=0.02)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(
            DiTBlock(dim, heads, text_dim, mlp_ratio,
                     object_layer(dim) if i < object_blocks else None)
            for i in range(depth)
        )
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.final_modulation = nn.Linear(dim, 2 * dim)
        self.final = nn.Linear(dim, patch_size * patch_size * out_channels)
        for layer in (self.final_modulation, self.final):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.gradient_checkpointing = False

    def enable_gradient_checkpointing(self) -> None:
        """Recompute every block in the backward pass instead of keeping its activations."""
        self.gradient_checkpointing = True

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, conditions: torch.Tensor,
                text: torch.Tensor, layout: ObjectLayout | None) -> torch.Tensor:
        """noisy [B, C, F, h, w], timestep float [B], conditions [B, Cc, F, h, w], text
        [B, S, D] → prediction [B, C, F, h, w]."""
        tokens = self.patch_embed(torch.cat([noisy, conditions], dim=1))  # [B, D, F, h', w']
        batch, dim, frames, height, width = tokens.shape
        if (frames > self.pos_time.shape[0] or height > self.pos_row.shape[0]
                or width > self.pos_col.shape[0]):
            raise ValueError(f"latent grid {frames}×{height}×{width} exceeds the positional "
                             "embeddings; raise max_frames/max_height/max_width")
        pos = (self.pos_time[:frames, None, None] + self.pos_row[None, :height, None]
               + self.pos_col[None, None, :width])
        x = tokens.permute(0, 2, 3, 4, 1) + pos
        x = x.reshape(batch, frames * height * width, dim)
        emb = self.time_mlp(timestep_embedding(timestep, dim))
        grid = (frames, height, width)
        for block in self.blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, emb, text, layout, grid, use_reentrant=False)
            else:
                x = block(x, emb, text, layout, grid)
        shift, scale = self.final_modulation(emb)[:, None].chunk(2, -1)
        x = self.final(self.final_norm(x) * (1 + scale) + shift)  # [B, N, p·p·C]
        p = self.patch
        x = x.view(batch, frames, height, width, p, p, self.out_channels)
        x = x.permute(0, 6, 1, 2, 4, 3, 5)
        return x.reshape(batch, self.out_channels, frames, height * p, width * p)
