"""Build the denoiser of one stage from an architecture config and a variant.

Stage `motion` (stage 1) denoises the trajectory latents given E(x0) and E(s0): 2 condition
latents, no object layers (c_motion enters through the backbone's cross-attention). Stage
`video` (stage 2) denoises the video latents given E(x0) and E(ŝ) (TI2V: E(x0) only) and has
object layers in its first K blocks, masked as the variant says.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from torch import nn

from reference_impl.ttm.config import ArchitectureConfig, Variant
from reference_impl.ttm.dit import TTMDiT
from reference_impl.ttm.masked_attention import ObjectAttention
from reference_impl.ttm.unet import TTMUNet

Stage = Literal["motion", "video"]

_OBJECT_KEYS = ("object_blocks", "object_heads", "background", "query_chunk", "self_membership",
                "attention_backend")


def condition_latents(stage: Stage, variant: Variant) -> int:
    """How many condition latents are concatenated to the noisy latents."""
    if stage == "motion":
        return 2  # E(x0), E(s0)
    return 1 if variant.trajectory is None else 2  # E(x0)[, E(ŝ)]


def object_block_count(arch: ArchitectureConfig, stage: Stage) -> int:
    """K: how many leading blocks carry object layers (none in stage 1)."""
    return 0 if stage == "motion" else int(arch.denoiser["object_blocks"])


def build_denoiser(arch: ArchitectureConfig, stage: Stage, variant: Variant,
                   latent_channels: int, text_dim: int) -> nn.Module:
    """A freshly initialised denoiser (TTMUNet or TTMDiT) for `stage` of `variant`."""
    options = arch.denoiser
    in_channels = latent_channels * (1 + condition_latents(stage, variant))
    object_layer = partial(
        ObjectAttention, context_dim=text_dim, heads=int(options["object_heads"]),
        masked_self=variant.masked_self, masked_cross=variant.masked_cross,
        background=options.get("background", "group"),
        self_membership=options.get("self_membership", "mask"),
        backend=options.get("attention_backend"), query_chunk=options.get("query_chunk"),
    )
    blocks = object_block_count(arch, stage)
    backbone = {k: v for k, v in options.items() if k not in _OBJECT_KEYS}
    if arch.backbone == "unet":
        return TTMUNet.build(backbone, in_channels, latent_channels, object_layer, blocks)
    return TTMDiT(in_channels=in_channels, out_channels=latent_channels, text_dim=text_dim,
                  object_layer=object_layer, object_blocks=blocks, **backbone)

