"""Inference: image + prompts + first-frame masks → stage 1 → trajectory ŝ → stage 2 → video.

The pipeline works at the architecture's native clip (frames × height × width): inputs are
resized to it (area for the image, nearest for the masks) and outputs come back at it.

Stage 1 samples the trajectory latents from E(x0), E(s0) and c_motion (the caption when no
motion prompt is given). The latents are decoded to a colour-coded video, decoded to label maps
by nearest palette colour, and the cleaned labels are re-rendered and re-encoded to E(ŝ)
(choice: stage 2 then sees the same kind of clean trajectory it was trained on) and give the
object placement of the masked attention (label maps for M_self, boxes for M_cross). Stage 2
samples the video latents from E(x0), E(ŝ), c and c_local. TI2V skips stage 1; its unmasked
object layers read c_local without boxes. The flow ablation passes the stage-1 latents to
stage 2 as they are (flow has no palette to clean) and its unmasked layers need no boxes either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.conditioning import (
    absent_placement,
    encode_still,
    object_layout,
    placement_from_labels,
    render_first_frame,
    resize_masks,
    stack_layouts,
    to_model_space,
    to_pixels,
)
from reference_impl.ttm.diffusion import combine_guidance
from reference_impl.ttm.masked_attention import ObjectLayout
from reference_impl.ttm.trajectories import decode_mask_video, render_mask_video
from ttm_bench.errors import TTMBenchError


@dataclass(frozen=True)
class TTMOutput:
    """video: uint8 [T, H, W, 3]; trajectory: the stage-1 video as generated, uint8
    [T, H, W, 3] (None for TI2V), and labels, its decoded label maps uint8 [T, H, W] (mask
    trajectories only)."""

    video: np.ndarray
    trajectory: np.ndarray | None
    labels: np.ndarray | None


class TTMPipeline:
    """Runs a loaded `TTMComponents`; `steps`, `visual_guidance`, `text_guidance` default to
    the architecture config."""

    def __init__(self, components: TTMComponents):
        self.components = components

    @torch.no_grad()
    def __call__(self, image: np.ndarray, masks: np.ndarray, caption: str,
                 local_prompts: Sequence[str], motion_prompt: str | None = None, seed: int = 0,
                 steps: int | None = None, visual_guidance: float | None = None,
                 text_guidance: float | None = None) -> TTMOutput:
        """image: uint8 [H, W, 3]; masks: bool [L, H, W] with one local prompt per mask."""
        c = self.components
        arch = c.arch
        if masks.shape[0] != len(local_prompts):
            raise TTMBenchError(f"{masks.shape[0]} object masks but {len(local_prompts)} local "
                                "prompts; give one local prompt per object")
        guidance = (arch.guidance["visual"] if visual_guidance is None else visual_guidance,
                    arch.guidance["text"] if text_guidance is None else text_guidance)
        size = (arch.width, arch.height)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        masks = resize_masks(masks, arch.height, arch.width)
        device, frames = c.device, c.vae.latent_frames(arch.frames)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        x0 = encode_still(c.vae, image, frames, device)
        local = [list(local_prompts)]
        null_local = [[""] * len(local_prompts)]
        num_objects = len(local_prompts)

        trajectory = labels = None
        conditions = x0
        placement = absent_placement(frames, num_objects, device)
        if c.motion is not None:
            s0 = encode_still(c.vae, render_first_frame(masks), frames, device)
            latents = self._sample(c.motion, torch.cat([x0, s0], 1), motion_prompt or caption,
                                   None, None, guidance, steps, generator)
            trajectory = to_pixels(c.vae.decode(latents))
            if c.variant.trajectory == "mask":
                labels = decode_mask_video(trajectory, num_objects)
                latents = c.vae.encode(to_model_space(render_mask_video(labels), device))
                placement = placement_from_labels(labels, num_objects, c.vae, device)
            conditions = torch.cat([x0, latents], 1)
        layout = object_layout(c.text, local, placement)
        null_layout = object_layout(c.text, null_local, placement)
        latents = self._sample(c.video, conditions, caption, layout, null_layout, guidance, steps,
                               generator)
        return TTMOutput(to_pixels(c.vae.decode(latents)), trajectory, labels)

    def _sample(self, denoiser: torch.nn.Module, conditions: torch.Tensor, prompt: str,
                layout: ObjectLayout | None, null_layout: ObjectLayout | None,
                guidance: tuple[float, float], steps: int | None,
                generator: torch.Generator) -> torch.Tensor:
        """Sample latents shaped like the noisy latents of `conditions` with two-scale CFG."""
        c = self.components
        text, null_text = c.text([prompt]), c.text([""])
        shape = (1, c.vae.latent_channels, *conditions.shape[2:])
        noise = torch.randn(shape, generator=generator).to(c.device)
        batch_conditions = torch.cat([torch.zeros_like(conditions), conditions, conditions])
        batch_text = torch.cat([null_text, null_text, text])
        batch_layout = None
        if layout is not None and null_layout is not None:
            batch_layout = stack_layouts([null_layout, null_layout, layout])

        def predict(noisy: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            out = denoiser(noisy.repeat(3, 1, 1, 1, 1), timestep.repeat(3), batch_conditions,
                           batch_text, batch_layout)
            uncond, visual, full = out.chunk(3)
            return combine_guidance(uncond, visual, full, *guidance)

        return c.diffusion.sample(predict, noise, steps)
