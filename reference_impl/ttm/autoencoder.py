"""The VAE that maps videos (and trajectories, which are videos too) to normalised latents.

Two kinds, both diffusers models built from a config (weights come from the checkpoint):
`autoencoder_kl` (Stable Diffusion's image VAE, applied frame by frame: no temporal compression;
AnimateDiff's), and `autoencoder_kl_wan` (Wan 2.1's causal video VAE: frame 0 alone, then
groups of 2^k frames). Encoding uses the mode of the latent distribution (choice: conditions and
training targets are deterministic functions of the video).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, AutoencoderKLWan
from torch import nn

from ttm_bench.errors import TTMBenchError


class VideoAutoencoder(nn.Module):
    """Encode float [B, 3, T, H, W] in [-1, 1] to latents [B, C, F, H/s, W/s] and back."""

    def __init__(self, kind: str, config: dict[str, Any], scaling_factor: float = 1.0):
        super().__init__()
        self.kind = kind
        if kind == "autoencoder_kl":
            self.model = AutoencoderKL(**config)
            self.spatial_ratio = 2 ** (len(self.model.config.block_out_channels) - 1)
            self.temporal_ratio, self.causal = 1, False
            self.latent_channels = self.model.config.latent_channels
        elif kind == "autoencoder_kl_wan":
            self.model = AutoencoderKLWan(**config)
            self.spatial_ratio = 2 ** (len(self.model.config.dim_mult) - 1)
            self.temporal_ratio = 2 ** sum(self.model.config.temperal_downsample)
            self.causal = True
            self.latent_channels = self.model.config.z_dim
        else:
            raise TTMBenchError(f"vae.kind {kind!r} is unknown; use autoencoder_kl or "
                                "autoencoder_kl_wan")
        self.scaling_factor = scaling_factor
        channels = self.latent_channels
        mean = getattr(self.model.config, "latents_mean", None) or [0.0] * channels
        std = getattr(self.model.config, "latents_std", None) or [1.0] * channels
        if len(mean) != channels or len(std) != channels:
            raise TTMBenchError(f"vae.config latents_mean/latents_std need {channels} values")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1, 1), persistent=False)

    def latent_frames(self, frames: int) -> int:
        """Number of latent frames for a clip of `frames` frames."""
        if self.causal:
            return 1 + (frames - 1) // self.temporal_ratio
        return frames // self.temporal_ratio

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """video: float [B, 3, T, H, W] in [-1, 1] → normalised latents [B, C, F, h, w]."""
        if self.kind == "autoencoder_kl":
            batch, frames = video.shape[0], video.shape[2]
            flat = video.transpose(1, 2).flatten(0, 1)
            z = self.model.encode(flat).latent_dist.mode()
            z = z.unflatten(0, (batch, frames)).transpose(1, 2)
        else:
            z = self.model.encode(video).latent_dist.mode()
        return (z - self.mean) / self.std * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, C, F, h, w] → video float [B, 3, T, H, W] clamped to [-1, 1]."""
        z = latents / self.scaling_factor * self.std + self.mean
        if self.kind == "autoencoder_kl":
            batch, frames = z.shape[0], z.shape[2]
            video = self.model.decode(z.transpose(1, 2).flatten(0, 1)).sample
            video = video.unflatten(0, (batch, frames)).transpose(1, 2)
        else:
            video = self.model.decode(z).sample
        return video.clamp(-1, 1)
