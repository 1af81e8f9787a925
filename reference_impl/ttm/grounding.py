"""Preprocessing, part 2: the first-frame masks s(0) of the objects the LLM named.

Grounding DINO (transformers' `GroundingDinoForObjectDetection`) finds each object's box in the
first frame; SAM2 (transformers' `Sam2Model`), prompted by those boxes, segments them. Weights
come from local directories or the Hugging Face cache (e.g. `IDEA-Research/grounding-dino-tiny`,
`facebook/sam2.1-hiera-large`); nothing is downloaded here and nothing falls back to random
weights.

Choices (the paper is silent): all labels go into one query ("dog. red ball."); each label
gets the one box whose best score over the label's own tokens is highest (the paper's objects
are single instances); a label whose best score is under `box_threshold` is reported as not
found and its object is dropped, with its prompt, by `initial_masks`. SAM2 returns one mask
per box (single-mask output).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError


@dataclass(frozen=True)
class Detection:
    """box: (x0, y0, x1, y1) in pixels of the image; score: sigmoid confidence in [0, 1]."""

    label: str
    box: tuple[float, float, float, float]
    score: float


def label_token_spans(token_counts: Sequence[int]) -> list[range]:
    """Token positions of each label in the query `[CLS] l1 . l2 . … [SEP]`."""
    spans, position = [], 1
    for count in token_counts:
        spans.append(range(position, position + count))
        position += count + 1  # the label's tokens, then "."
    return spans


def best_boxes(logits: np.ndarray, boxes: np.ndarray, spans: Sequence[range],
               labels: Sequence[str], threshold: float, height: int, width: int,
               ) -> list[Detection | None]:
    """The highest-scoring box of every label, or None under `threshold`.

    logits: float [Q, T] token logits of Q queries; boxes: float [Q, 4] normalised
    (cx, cy, w, h). A query's score for a label is its best sigmoid over the label's tokens.
    """
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    found: list[Detection | None] = []
    for label, span in zip(labels, spans, strict=True):
        scores = probs[:, list(span)].max(1)
        q = int(scores.argmax())
        if scores[q] < threshold:
            found.append(None)
            continue
        cx, cy, w, h = boxes[q].astype(np.float64)
        box = (max(0.0, (cx - w / 2) * width), max(0.0, (cy - h / 2) * height),
               min(float(width), (cx + w / 2) * width), min(float(height), (cy + h / 2) * height))
        found.append(Detection(label, box, float(scores[q])))
    return found


def _load(kind: str, loader: type, source: str | Path):
    try:
        return loader.from_pretrained(str(source), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TTMBenchError(f"{kind} weights not found at {source!r} ({exc}); download them "
                            "there or into the Hugging Face cache first") from exc


class GroundingDinoDetector:
    """Open-vocabulary boxes for object labels in one image."""

    def __init__(self, model: str | Path = "IDEA-Research/grounding-dino-tiny",
                 device: str = "cpu", box_threshold: float = 0.35):
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        self.processor = _load("Grounding DINO processor", AutoProcessor, model)
        self.model = _load("Grounding DINO", AutoModelForZeroShotObjectDetection,
                           model).to(device).eval()
        self.device, self.threshold = device, box_threshold

    @torch.no_grad()
    def detect(self, image: np.ndarray, labels: Sequence[str]) -> list[Detection | None]:
        """image: uint8 [H, W, 3]; one result per label."""
        if not labels:
            return []
        names = [label.lower().strip().rstrip(".") for label in labels]
        query = " ".join(f"{name}." for name in names)
        inputs = self.processor(images=image, text=query, return_tensors="pt").to(self.device)
        tokenizer = self.processor.tokenizer
        counts = [len(tokenizer(name, add_special_tokens=False)["input_ids"]) for name in names]
        if inputs["input_ids"].shape[1] != 2 + sum(counts) + len(counts):
            raise TTMBenchError(f"the query {query!r} was truncated or tokenised unexpectedly; "
                                "use fewer or shorter labels")
        out = self.model(**inputs)
        return best_boxes(out.logits[0].float().cpu().numpy(),
                          out.pred_boxes[0].float().cpu().numpy(), label_token_spans(counts),
                          list(labels), self.threshold, image.shape[0], image.shape[1])


class Sam2Segmenter:
    """Masks from box prompts in one image."""

    def __init__(self, model: str | Path = "facebook/sam2.1-hiera-large", device: str = "cpu"):
        from transformers import AutoProcessor, Sam2Model

        self.processor = _load("SAM2 processor", AutoProcessor, model)
        self.model = _load("SAM2", Sam2Model, model).to(device).eval()
        self.device = device

    @torch.no_grad()
    def segment(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """image: uint8 [H, W, 3]; boxes in pixels → bool [L, H, W]."""
        if not boxes:
            return np.zeros((0, *image.shape[:2]), bool)
        inputs = self.processor(images=image, input_boxes=[[list(map(float, b)) for b in boxes]],
                                return_tensors="pt").to(self.device)
        out = self.model(**inputs, multimask_output=False)
        masks = self.processor.post_process_masks(out.pred_masks.cpu(),
                                                  inputs["original_sizes"].cpu())[0]
        return masks[:, 0].numpy().astype(bool)


def initial_masks(image: np.ndarray, labels: Sequence[str], detector: GroundingDinoDetector,
                  segmenter: Sam2Segmenter) -> tuple[np.ndarray, list[int]]:
    """s(0) for the labels that were found: (bool [L', H, W], their indices in `labels`)."""
    detections = detector.detect(image, labels)
    kept = [i for i, d in enumerate(detections) if d is not None]
    masks = segmenter.segment(image, [detections[i].box for i in kept])
    return masks, kept
