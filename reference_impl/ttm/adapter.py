"""The reference TTM, TI2V and the ablations as `VideoModel`s (`ttm`, `ti2v`, `ttm-…`).

Each name expects a checkpoint of its own variant (`checkpoint=DIR`; no weights have been
released, see `checkpoint.NO_RELEASED_WEIGHTS`). The model returns its native clip as a
`GeneratedVideo`; the runner maps it onto the benchmark with the suite's one normalisation policy.
Its native frame rate is taken as the one that spreads the clip over the benchmark clip's
duration (fps · T' / T; the architecture has no frame rate of its own), so `time_scale` is 1.

Mask-trajectory variants return the stage-1 trajectory stage 2 conditioned on (the decoded,
cleaned label maps, one mask per object) as `GeneratedVideo.trajectory`, which the runner saves
beside the video for `trajectory_miou`. Stage 1 always runs: the pipeline has no mode that takes
a benchmark's trajectory instead. No trajectory is returned by TI2V (no stage 1), by
`ttm-flow` (its trajectory is optical flow, not masks), or when the objects were found by the
preprocessing rather than given by the benchmark (they are not the benchmark's objects).

Objects and prompts come from the request (benchmarks carry them: masks s(0), `local_prompts`,
else `object_labels`, and the motion prompt). For samples without objects, the preprocessing
runs when configured: the LLM at `llm_url` derives c_motion and the objects from the caption
(cached under `prompt_cache`), Grounding DINO (`grounding_model`) and SAM2 (`sam2_model`) give
their masks. Unconfigured, such a sample runs without objects and with c_motion = c.
`trajectory_dir` keeps each stage-1 trajectory as `<sample_id>.mp4` (lossless).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from reference_impl.ttm.checkpoint import load_checkpoint
from reference_impl.ttm.grounding import GroundingDinoDetector, Sam2Segmenter
from reference_impl.ttm.pipeline import TTMOutput, TTMPipeline
from reference_impl.ttm.preprocess import Preprocessor
from reference_impl.ttm.prompts import OpenAICompatibleBackend
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest, VideoModel
from ttm_bench.video import write_video


class ReferenceTTMModel(VideoModel):
    """Loads a checkpoint of variant `name` and runs `TTMPipeline` on each request.

    Config: checkpoint (directory), steps / visual_guidance / text_guidance (None: the
    architecture's defaults), and the preprocessing and trajectory options of the module
    docstring. `last_output` keeps the latest `TTMOutput` (with the stage-1 trajectory).
    """

    name: ClassVar[str] = "ttm"
    version: ClassVar[str] = "2"  # 2: native clip + stage-1 trajectory, runner-normalised
    default_config: ClassVar[Mapping[str, Any]] = {
        "checkpoint": "", "steps": None, "visual_guidance": None, "text_guidance": None,
        "trajectory_dir": "", "llm_url": "", "llm_model": "", "prompt_cache": "",
        "grounding_model": "", "sam2_model": "", "box_threshold": 0.35,
    }

    def load(self, config: Mapping[str, Any], device: str) -> None:
        self.config = dict(config)
        self.pipeline = TTMPipeline(load_checkpoint(str(config["checkpoint"]), self.name, device))
        self.last_output: TTMOutput | None = None
        backend = (OpenAICompatibleBackend(config["llm_url"], config["llm_model"])
                   if config["llm_url"] else None)
        detector = segmenter = None
        if config["grounding_model"] or config["sam2_model"]:
            if not (config["grounding_model"] and config["sam2_model"] and backend):
                raise TTMBenchError("grounding needs grounding_model, sam2_model and llm_url "
                                    "(the LLM names the objects); set all three")
            detector = GroundingDinoDetector(config["grounding_model"], device,
                                             float(config["box_threshold"]))
            segmenter = Sam2Segmenter(config["sam2_model"], device)
        self.preprocessor = Preprocessor(backend, detector, segmenter,
                                         config["prompt_cache"] or None)

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        objects = self.preprocessor.prepare(
            request.sample_id, request.image, request.caption, request.masks,
            request.local_prompts or request.object_labels, request.motion_prompt)
        if len(objects.local_prompts) != objects.masks.shape[0]:
            raise TTMBenchError(f"sample {request.sample_id}: {objects.masks.shape[0]} masks but "
                                f"{len(objects.local_prompts)} local prompts; give one prompt "
                                "per object")
        output = self.pipeline(
            request.image, objects.masks, request.caption, objects.local_prompts,
            motion_prompt=objects.motion_prompt,
            seed=request.seed, steps=self.config["steps"],
            visual_guidance=self.config["visual_guidance"],
            text_guidance=self.config["text_guidance"],
        )
        self.last_output = output
        if self.config["trajectory_dir"] and output.trajectory is not None:
            write_video(Path(self.config["trajectory_dir"]) / f"{request.sample_id}.mp4",
                        output.trajectory, request.fps, lossless=True)
        trajectory = None
        if output.labels is not None and request.masks.shape[0] > 0:
            objects = np.arange(1, request.masks.shape[0] + 1, dtype=output.labels.dtype)
            trajectory = output.labels[:, None] == objects[None, :, None, None]
        fps = request.fps * output.video.shape[0] / request.num_frames
        return GeneratedVideo(output.video, fps, trajectory=trajectory)


class TTMModel(ReferenceTTMModel):
    """Through-The-Mask: mask trajectories, masked self- and cross-attention."""

    name = "ttm"


class TI2VModel(ReferenceTTMModel):
    """The paper's TI2V baseline: stage 2 without trajectories, unmasked extra layers."""

    name = "ti2v"


class NoMaskedAttentionModel(ReferenceTTMModel):
    """Ablation: trajectories, but the extra layers are unmasked."""

    name = "ttm-no-masked-attn"


class MaskedCrossOnlyModel(ReferenceTTMModel):
    """Ablation: trajectories, masked cross-attention only."""

    name = "ttm-masked-cross"


class MaskedSelfOnlyModel(ReferenceTTMModel):
    """Ablation: trajectories, masked self-attention only."""

    name = "ttm-masked-self"


class FlowTrajectoryModel(ReferenceTTMModel):
    """Ablation: optical-flow trajectories instead of masks (unmasked extra layers)."""

    name = "ttm-flow"
