"""All trainable parts of one TTM model (a variant on an architecture), built from configs.

`TTMComponents` holds the VAE, the prompt encoder, the stage-1 denoiser (`motion`; None for
TI2V, which has no stage 1) and the stage-2 denoiser (`video`), plus the diffusion process. Its
state dict is exactly what a checkpoint stores.
"""

from __future__ import annotations

import torch
from torch import nn

from reference_impl.ttm.autoencoder import VideoAutoencoder
from reference_impl.ttm.config import ArchitectureConfig, Variant
from reference_impl.ttm.denoiser import build_denoiser
from reference_impl.ttm.diffusion import build_diffusion
from reference_impl.ttm.text_encoder import PromptEncoder


class TTMComponents(nn.Module):
    """vae, text, motion (stage 1 or None), video (stage 2); `diffusion` is weightless."""

    def __init__(self, arch: ArchitectureConfig, variant: Variant):
        super().__init__()
        self.arch, self.variant = arch, variant
        self.vae = VideoAutoencoder(**arch.vae)
        self.text = PromptEncoder(**arch.text_encoder)
        channels, dim = self.vae.latent_channels, self.text.dim
        self.motion = (None if variant.trajectory is None
                       else build_denoiser(arch, "motion", variant, channels, dim))
        self.video = build_denoiser(arch, "video", variant, channels, dim)
        self.diffusion = build_diffusion(arch.diffusion)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
