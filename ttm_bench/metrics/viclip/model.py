"""ViCLIP (InternVid) video and text towers, written for this project.

The architecture and parameter names follow the released ViCLIP ViT-L/14 checkpoint
(`ViClip-InternVid-10M-FLT.pth`, key `model`) so it loads with `strict=True`:

- `vision_encoder`: a CLIP ViT whose patch embedding is a Conv3d with temporal kernel 1; each
  frame's patch tokens get the spatial positional embedding plus a learned per-frame temporal
  embedding, all frames' tokens share one sequence behind a single class token, and the class
  token after `ln_post` is projected by `proj`.
- `text_encoder`: the CLIP text transformer (causal mask, context 32), pooled at the
  end-of-text token (the largest token id) and projected by `text_projection`.
- `temp`: the contrastive temperature (unused for scoring, kept for strict loading).

Compatibility is tested against the upstream parameter list and upstream golden outputs
(tests/test_viclip.py).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ttm_bench.metrics.model_metric import load_state_dict, load_strict


@dataclass(frozen=True)
class ViCLIPConfig:
    """Tower sizes. `L14` is the released model."""

    image_size: int = 224
    patch_size: int = 14
    num_frames: int = 8
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    embed_dim: int = 768
    context_length: int = 32
    vocab_size: int = 49408
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12


L14 = ViCLIPConfig()


class QuickGELU(nn.Module):
    """CLIP's activation, x · sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualBlock(nn.Module):
    """Pre-norm transformer block on batch-first tokens [B, L, width]."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class VideoEncoder(nn.Module):
    """pixels: float32 [B, T, 3, S, S] (normalised) → embeddings float32 [B, embed_dim]."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        width, patch = cfg.vision_width, cfg.patch_size
        grid = cfg.image_size // patch
        self.conv1 = nn.Conv3d(3, width, (1, patch, patch), (1, patch, patch), bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, cfg.num_frames, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, cfg.vision_layers, cfg.vision_heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, cfg.embed_dim))
        self.num_frames = cfg.num_frames

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        batch, frames = pixels.shape[:2]
        if frames != self.num_frames:
            raise ValueError(f"ViCLIP video tower takes {self.num_frames} frames, got {frames}")
        patches = self.conv1(pixels.transpose(1, 2))  # [B, C, T, h, w]
        tokens = patches.flatten(3).permute(0, 3, 2, 1)  # [B, N, T, C]
        tokens = tokens + self.positional_embedding[1:, None, :]
        tokens = tokens + self.temporal_positional_embedding.unsqueeze(1)  # [1, 1, T, C]
        tokens = tokens.flatten(1, 2)  # [B, N*T, C], patch-major like the original
        cls = (self.class_embedding + self.positional_embedding[0]).expand(batch, 1, -1)
        x = self.ln_pre(torch.cat([cls, tokens], dim=1))
        x = self.transformer(x)
        return self.ln_post(x[:, 0]) @ self.proj


class TextEncoder(nn.Module):
    """tokens: int64 [B, context_length] (CLIP BPE, zero-padded) → float32 [B, embed_dim]."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        width = cfg.text_width
        self.token_embedding = nn.Embedding(cfg.vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, width))
        self.transformer = Transformer(width, cfg.text_layers, cfg.text_heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.zeros(width, cfg.embed_dim))
        causal = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("causal_mask", causal, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.causal_mask))
        end_of_text = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        return end_of_text @ self.text_projection


class ViCLIP(nn.Module):
    """Both towers; `encode_video`/`encode_text` return L2-normalised float32 embeddings."""

    def __init__(self, cfg: ViCLIPConfig = L14) -> None:
        super().__init__()
        self.config = cfg
        self.vision_encoder = VideoEncoder(cfg)
        self.text_encoder = TextEncoder(cfg)
        self.temp = nn.Parameter(torch.tensor(0.01))

    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.vision_encoder(pixels), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.text_encoder(tokens), dim=-1)


def load_viclip(path: Path, device: str = "cpu", cfg: ViCLIPConfig = L14) -> ViCLIP:
    """The model from a checkpoint file ({'model': state_dict} as released), loaded strictly."""
    model = ViCLIP(cfg)
    load_strict(model, load_state_dict(path, key="model"), path)
    return model.eval().to(device)
