"""Turn pixels, masks and prompts into the tensors the denoisers read (shared by training and
inference, so both condition identically).

- Visual conditions are latents concatenated on channels. The first frame x(0) and the
  first-frame mask image s(0) are encoded as one-frame clips and repeated over all latent frames
  (choice: every latent frame sees the conditioning image directly).
- The trajectory condition E(s) is the latent of the colour-coded mask video.
- Object placement (`Placement`) comes from the trajectory's label maps: boxes per latent frame
  (`trajectories`, for M_cross and the box rule of M_self) and the label maps themselves with
  the latent frame groups (for the mask rule of M_self, `masked_attention.mask_object_ids`).
- Dropped conditions (classifier-free guidance): visual conditions become zeros, text becomes the
  empty prompt, and each c_local becomes the empty prompt (the object layout stays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from reference_impl.ttm.autoencoder import VideoAutoencoder
from reference_impl.ttm.masked_attention import ObjectLayout
from reference_impl.ttm.text_encoder import PromptEncoder
from reference_impl.ttm.trajectories import (
    boxes_from_labels,
    labels_from_masks,
    latent_boxes,
    latent_frame_groups,
    render_mask_video,
)


def resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of bool [..., H, W] masks to bool [..., height, width]."""
    flat = masks.reshape(-1, *masks.shape[-2:])
    out = np.zeros((flat.shape[0], height, width), bool)
    for i, mask in enumerate(flat):
        out[i] = cv2.resize(mask.astype(np.uint8), (width, height),
                            interpolation=cv2.INTER_NEAREST).astype(bool)
    return out.reshape(*masks.shape[:-2], height, width)


def to_model_space(video: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float [1, 3, T, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(video)).to(device).float()
    return (x / 127.5 - 1).permute(3, 0, 1, 2)[None]


def to_pixels(video: torch.Tensor) -> np.ndarray:
    """float [1, 3, T, H, W] in [-1, 1] → uint8 [T, H, W, 3]."""
    x = ((video[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


def encode_still(vae: VideoAutoencoder, frame: np.ndarray, latent_frames: int,
                 device: torch.device | str) -> torch.Tensor:
    """E(frame) repeated over time: uint8 [H, W, 3] → [1, C, latent_frames, h, w]."""
    latent = vae.encode(to_model_space(frame[None], device))
    return latent[:, :, :1].expand(-1, -1, latent_frames, -1, -1)


@dataclass(frozen=True)
class Placement:
    """Where the objects of one sample are: boxes float [1, F, L, 4], present bool [1, F, L],
    labels uint8 [1, T, H, W] (None when no layer reads masks), frame_groups per latent frame."""

    boxes: torch.Tensor
    present: torch.Tensor
    labels: torch.Tensor | None = None
    frame_groups: tuple[tuple[int, int], ...] = ()


def placement_from_labels(labels: np.ndarray, num_objects: int, vae: VideoAutoencoder,
                          device: torch.device | str) -> Placement:
    """Boxes per latent frame and the label maps uint8 [T, H, W] themselves."""
    boxes, present = boxes_from_labels(labels, num_objects)
    boxes, present = latent_boxes(boxes, present, vae.temporal_ratio, vae.causal)
    groups = latent_frame_groups(labels.shape[0], vae.temporal_ratio, vae.causal)
    return Placement(torch.from_numpy(boxes)[None].to(device),
                     torch.from_numpy(present)[None].to(device),
                     torch.from_numpy(np.ascontiguousarray(labels))[None].to(device),
                     tuple(groups))


def absent_placement(frames: int, objects: int, device: torch.device | str) -> Placement:
    """Placement for layers that need none (unmasked): zero boxes, all absent, no labels."""
    return Placement(torch.zeros(1, frames, objects, 4, device=device),
                     torch.zeros(1, frames, objects, dtype=torch.bool, device=device))


def object_layout(text: PromptEncoder, local_prompts: Sequence[Sequence[str]],
                  placement: Placement) -> ObjectLayout:
    """An `ObjectLayout` for a batch of one sample's prompts placed by `placement`."""
    tokens, owner = text.encode_local(local_prompts)
    return ObjectLayout(placement.boxes, placement.present, tokens, owner, placement.labels,
                        placement.frame_groups)


def render_first_frame(masks: np.ndarray) -> np.ndarray:
    """The colour-coded s(0) image uint8 [H, W, 3] from object masks bool [L, H, W]."""
    return render_mask_video(labels_from_masks(masks)[None])[0]


def stack_layouts(layouts: Sequence[ObjectLayout]) -> ObjectLayout:
    """Concatenate batch-1 layouts with different object counts and prompt lengths.

    Missing objects are padded as absent everywhere (no tokens, no prompt), which changes
    nothing for the real ones; missing prompt tokens as padding (object -1). Label maps are
    kept when every layout has them (same clip shape and frame groups), else dropped.
    """
    objects = max(lay.boxes.shape[2] for lay in layouts)
    length = max(lay.local_tokens.shape[1] for lay in layouts)

    def pad(x: torch.Tensor, dim: int, size: int, value: float) -> torch.Tensor:
        widths = [0, 0] * (x.ndim - 1 - dim) + [0, size - x.shape[dim]]
        return torch.nn.functional.pad(x, widths, value=value)

    labels = None
    if all(lay.labels is not None for lay in layouts):
        if len({lay.frame_groups for lay in layouts}) > 1:
            raise ValueError("layouts with different latent frame groups cannot share a batch")
        labels = torch.cat([lay.labels for lay in layouts])
    return ObjectLayout(
        torch.cat([pad(lay.boxes, 2, objects, 0.0) for lay in layouts]),
        torch.cat([pad(lay.present, 2, objects, False) for lay in layouts]),
        torch.cat([pad(lay.local_tokens, 1, length, 0.0) for lay in layouts]),
        torch.cat([pad(lay.local_token_object, 1, length, -1) for lay in layouts]),
        labels,
        layouts[0].frame_groups if labels is not None else (),
    )
