"""Image + caption → (c_motion, objects with c_local, s(0)): the paper's preprocessing, run only
for what a sample lacks.

An LLM (`prompts.py`) derives c_motion and the objects from the caption; Grounding DINO and
SAM2 (`grounding.py`) turn the object labels into first-frame masks. Objects that are not
found are dropped with their prompts. A sample that already has masks keeps them (and its
prompts); a sample without a motion prompt gets the LLM's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reference_impl.ttm.grounding import GroundingDinoDetector, Sam2Segmenter, initial_masks
from reference_impl.ttm.prompts import PromptBackend, derive_prompts
from ttm_bench.errors import TTMBenchError


@dataclass(frozen=True)
class PreparedObjects:
    """masks: bool [L, H, W]; one local prompt per mask; the motion prompt (None: use c)."""

    masks: np.ndarray
    local_prompts: tuple[str, ...]
    motion_prompt: str | None


class Preprocessor:
    """Fills in missing prompts and masks; `backend` None disables it, grounding is optional."""

    def __init__(self, backend: PromptBackend | None,
                 detector: GroundingDinoDetector | None = None,
                 segmenter: Sam2Segmenter | None = None, cache_dir: str | Path | None = None):
        if (detector is None) != (segmenter is None):
            raise TTMBenchError("grounding needs both Grounding DINO and SAM2")
        if detector is not None and backend is None:
            raise TTMBenchError("grounding needs an LLM to name the objects; configure one")
        self.backend, self.detector, self.segmenter = backend, detector, segmenter
        self.cache_dir = cache_dir

    def prepare(self, sample_id: str, image: np.ndarray, caption: str, masks: np.ndarray,
                local_prompts: tuple[str, ...], motion_prompt: str | None) -> PreparedObjects:
        """image: uint8 [H, W, 3]; masks: bool [L, H, W] (L may be 0)."""
        needs_objects = masks.shape[0] == 0 and self.detector is not None
        if self.backend is None or not (needs_objects or motion_prompt is None):
            return PreparedObjects(masks, local_prompts, motion_prompt)
        derived = derive_prompts(caption, self.backend, sample_id=sample_id,
                                 cache_dir=self.cache_dir)
        motion_prompt = motion_prompt or derived.motion_prompt
        if needs_objects:
            labels = [o.label for o in derived.objects]
            masks, kept = initial_masks(image, labels, self.detector, self.segmenter)
            local_prompts = tuple(derived.objects[i].local_prompt for i in kept)
        return PreparedObjects(masks, local_prompts, motion_prompt)
