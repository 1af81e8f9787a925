"""The U-Net denoiser: AnimateDiff's `UNetMotionModel` with condition channels and object layers.

- Input: the noisy latents concatenated on channels with the condition latents (E(x0) and E(s0)
  for stage 1; E(x0) and E(ŝ) for stage 2; E(x0) alone for TI2V). The extra input channels of
  `conv_in` start at zero (`expand_input_channels`), so a pretrained text-to-video U-Net is
  unchanged at initialisation (the paper initialises both stages from a T2V model; see
  `pretrained.py`).
- Object layers (`masked_attention.ObjectAttention`) follow the first K spatial attention
  blocks of the encoder (K=6 for AnimateDiff: all its encoder spatial attentions), acting on
  the tokens of all frames at that block's resolution. They read the current `ObjectLayout`,
  which `TTMUNet.forward` installs for the duration of one call (the diffusers blocks offer no
  way to pass it through without warnings).
- Text: diffusers' motion U-Net expects the prompt repeated per frame; `forward` does it.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNetMotionModel
from torch import nn

from reference_impl.ttm.masked_attention import (
    ObjectAttention,
    ObjectLayerFactory,
    ObjectLayout,
)


def expand_input_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of `conv` taking `in_channels` inputs; the new input channels have zero weights."""
    if in_channels < conv.in_channels:
        raise ValueError(f"cannot shrink conv_in from {conv.in_channels} to {in_channels} inputs")
    wider = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, bias=conv.bias is not None)
    with torch.no_grad():
        wider.weight.zero_()
        wider.weight[:, : conv.in_channels] = conv.weight
        if conv.bias is not None:
            wider.bias.copy_(conv.bias)
    return wider


class _SpatialAttentionWithObjects(nn.Module):
    """A diffusers `Transformer2DModel` followed by object layers over all frames' tokens."""

    def __init__(self, inner: nn.Module, objects: ObjectAttention):
        super().__init__()
        self.inner, self.objects = inner, objects
        self.layout: ObjectLayout | None = None

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple:
        out = self.inner(hidden_states, *args, **kwargs)
        if self.layout is None:
            raise RuntimeError("object layers called without a layout; call TTMUNet.forward")
        h = out[0]  # [B·F, C, h, w]
        batch = self.layout.boxes.shape[0]
        frames = h.shape[0] // batch
        _, channels, height, width = h.shape
        tokens = h.view(batch, frames, channels, height, width).permute(0, 1, 3, 4, 2)
        tokens = self.objects(tokens.reshape(batch, -1, channels), self.layout,
                              (frames, height, width))
        h = tokens.view(batch, frames, height, width, channels).permute(0, 1, 4, 2, 3)
        return (h.reshape(batch * frames, channels, height, width), *out[1:])


class TTMUNet(nn.Module):
    """Denoiser: (noisy, t, conditions, text, layout) → prediction, all latents [B, C, F, h, w]."""

    def __init__(self, unet: UNetMotionModel, object_layers: list[ObjectAttention]):
        super().__init__()
        self.unet = unet
        spatial = [attn for block in unet.down_blocks for attn in getattr(block, "attentions", [])]
        if len(object_layers) > len(spatial):
            raise ValueError(f"{len(object_layers)} object blocks requested, the encoder has "
                             f"{len(spatial)} spatial attention blocks")
        self.wrapped: list[_SpatialAttentionWithObjects] = []
        for block in unet.down_blocks:
            for i, attn in enumerate(getattr(block, "attentions", [])):
                if len(self.wrapped) == len(object_layers):
                    break
                wrapper = _SpatialAttentionWithObjects(attn, object_layers[len(self.wrapped)])
                block.attentions[i] = wrapper
                self.wrapped.append(wrapper)

    @classmethod
    def build(cls, unet_config: dict[str, Any], in_channels: int, out_channels: int,
              object_layer: ObjectLayerFactory, object_blocks: int) -> TTMUNet:
        """A fresh U-Net. `object_layer(dim)` makes the object layers of a block of width dim."""
        unet = UNetMotionModel(**unet_config, in_channels=out_channels, out_channels=out_channels)
        unet.conv_in = expand_input_channels(unet.conv_in, in_channels)
        return cls(unet, cls._layers(unet, object_layer, object_blocks))

    @staticmethod
    def _layers(unet: UNetMotionModel, object_layer: ObjectLayerFactory, count: int,
                ) -> list[ObjectAttention]:
        widths = [attn.config.in_channels for block in unet.down_blocks
                  for attn in getattr(block, "attentions", [])]
        return [object_layer(width) for width in widths[:count]]

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the backbone's blocks in the backward pass (diffusers' checkpointing)."""
        self.unet.enable_gradient_checkpointing()

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, conditions: torch.Tensor,
                text: torch.Tensor, layout: ObjectLayout | None) -> torch.Tensor:
        """noisy [B, C, F, h, w], timestep float [B], conditions [B, Cc, F, h, w] (Cc may be 0),
        text float [B, S, D] → prediction [B, C, F, h, w]."""
        if self.wrapped and layout is None:
            raise ValueError("this U-Net has object layers: pass an ObjectLayout")
        frames = noisy.shape[2]
        x = torch.cat([noisy, conditions], dim=1)
        for wrapper in self.wrapped:
            wrapper.layout = layout
        try:
            out = self.unet(x, timestep, text.repeat_interleave(frames, dim=0)).sample
        finally:
            for wrapper in self.wrapped:
                wrapper.layout = None
        return out
