"""The `sam2` tracker: the SAM2.1 video predictor prompted with the first-frame masks.

Convention: the upstream `sam2` package (PyPI `sam2`, Apache-2.0) builds the video predictor
from its packaged config (`configs/sam2.1/sam2.1_hiera_<size>.yaml`) at `sam2_image_size`
(1024, the released models' size; upstream's post-processing except hole filling, which
needs the CUDA extension that `SAM2_BUILD_CUDA=0` leaves out), with the weights of the
registry's checkpoint loaded strictly. Frames go through the predictor's own loader (a folder
of JPEG frames, quality 95, resized to the model's square input and normalised with ImageNet
mean/std, as upstream does).
Each object is added on frame 0 with `add_new_mask` and propagated forward; a pixel's soft
mask value is the sigmoid of SAM2's mask logit at the video's size. Displacements come from the
AD metric's DIS flow over those masks, as the `flow` tracker takes them (the flow on an
object's interior, its fitted motion on its edge band: `layered_propagation.displacement_fields`);
SAM2 gives masks, not motion. SAM2's masks are what is seen: `object_persistence` counts a
hidden object as absent with this tracker.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.metrics.objects.flow_tracker import forward_backward_flow
from ttm_bench.metrics.objects.layered_propagation import displacement_fields
from ttm_bench.metrics.objects.tracker import Checkpoint
from ttm_bench.metrics.objects.tracks import ObjectTracks, tracks_from_flow

#: Preset model name → (packaged config, weights registry name).
SAM2_MODELS: Mapping[str, tuple[str, str]] = {
    "sam2.1_hiera_tiny": ("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny"),
    "sam2.1_hiera_small": ("configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small"),
    "sam2.1_hiera_base_plus": ("configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus"),
    "sam2.1_hiera_large": ("configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large"),
}
JPEG_QUALITY = 95


def build_predictor(config: str, image_size: int, device: str = "cpu") -> Any:
    """An untrained SAM2 video predictor from the packaged `config` at `image_size`."""
    try:
        from sam2.build_sam import build_sam2_video_predictor
    except ImportError as exc:
        raise TTMBenchError("the `sam2` package is not installed; install it after torch with "
                            "`SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0`"
                            ) from exc
    predictor = build_sam2_video_predictor(
        config, ckpt_path=None, device=device,
        hydra_overrides_extra=[f"++model.image_size={image_size}"])
    predictor.fill_hole_area = 0  # hole filling needs sam2's CUDA extension
    return predictor


def load_sam2(config: str, path: Path, image_size: int, device: str = "cpu") -> Any:
    """The SAM2 video predictor with the weights in `path` ({'model': state_dict}), strictly."""
    from ttm_bench.metrics.model_metric import load_state_dict, load_strict

    predictor = build_predictor(config, image_size, "cpu")
    load_strict(predictor, load_state_dict(path, key="model"), path)
    return predictor.eval().to(device)


def sam2_masks(predictor: Any, video: np.ndarray, first_masks: np.ndarray) -> np.ndarray:
    """Soft masks float32 [T, L, H, W] of each first-frame mask (float [L, H, W], binarised at
    0.5) tracked through `video` (uint8 [T, H, W, 3])."""
    import torch

    with tempfile.TemporaryDirectory(prefix="ttm-sam2-") as folder:
        for t, frame in enumerate(video):
            Image.fromarray(frame).save(Path(folder) / f"{t:05d}.jpg", quality=JPEG_QUALITY)
        state = predictor.init_state(folder)
    masks = np.zeros((len(video), *first_masks.shape), np.float32)
    with torch.inference_mode():
        for k, mask in enumerate(first_masks):
            predictor.add_new_mask(state, frame_idx=0, obj_id=k, mask=mask >= 0.5)
        for frame, object_ids, logits in predictor.propagate_in_video(state):
            masks[frame, list(object_ids)] = torch.sigmoid(logits[:, 0]).float().cpu().numpy()
    return masks


@dataclass
class SAM2Tracker:
    predictor: Any
    dis_preset: str = "medium"

    def track(self, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        masks = sam2_masks(self.predictor, video, first_masks)
        forward, backward = forward_backward_flow(video, self.dis_preset)
        return tracks_from_flow(masks, displacement_fields(masks, forward, backward))


def weights_name(params: Mapping[str, Any]) -> str:
    """The weights registry name of the preset's SAM2 model."""
    model = params["sam2_model"]
    if model not in SAM2_MODELS:
        raise UnknownNameError("SAM2 model", model, list(SAM2_MODELS))
    return SAM2_MODELS[model][1]


def build(params: Mapping[str, Any], device: str, checkpoint: Checkpoint) -> SAM2Tracker:
    from ttm_bench import weights

    path = weights.locate(weights_name(params), checkpoint)
    config = SAM2_MODELS[params["sam2_model"]][0]
    return SAM2Tracker(load_sam2(config, path, params["sam2_image_size"], device),
                       params["dis_preset"])
