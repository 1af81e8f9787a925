"""In-process adapters for diffusers image-to-video pipelines.

Each adapter loads its pipeline once (`from_pretrained` on a hub id or a local directory, from
the Hugging Face cache; a missing checkpoint is an error naming the download command, never a
silent fallback), then per request: stretches the first frame to the pipeline's native size
(`normalize.prepare_image`), seeds a CPU `torch.Generator` (the same noise on every device)
and torch's global generator with the request's seed, and returns the native clip as a
`GeneratedVideo` for the runner to normalise. Defaults are each model card's recommended settings.

- `svd`: Stable Video Diffusion img2vid-xt (image only, no text), 25 frames 576×1024, fps 7.
- `i2vgen-xl`: I2VGen-XL, 16 frames 704×1280 at 16 fps, guidance 9.
- `cogvideox-i2v`: CogVideoX-5B-I2V, 49 frames 480×720 at 8 fps, guidance 6.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest, VideoModel
from ttm_bench.generation.normalize import prepare_image

DTYPES = ("auto", "float32", "float16", "bfloat16")
COMMON_CONFIG: Mapping[str, Any] = {
    "revision": "",  # a hub revision (commit) to pin; "" = the default branch
    "dtype": "auto",  # auto: float16 on CUDA, float32 on CPU
    "local_files_only": True,  # never download during a run; fetch weights beforehand
}


def to_uint8(frames: Any) -> np.ndarray:
    """float [T, H, W, 3] in [0, 1] (a pipeline's `output_type="np"`) -> uint8, rounded."""
    array = np.asarray(frames, dtype=np.float32)
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class DiffusersI2V(VideoModel):
    """Shared loading and calling; subclasses name the pipeline class and its call arguments."""

    pipeline_class: ClassVar[str]

    def load(self, config: Mapping[str, Any], device: str) -> None:
        import diffusers
        import torch

        if config["dtype"] not in DTYPES:
            raise TTMBenchError(f"{self.name}: dtype {config['dtype']!r} is not one of {DTYPES}")
        dtype = config["dtype"]
        if dtype == "auto":
            dtype = "float16" if device.startswith("cuda") else "float32"
        pipeline_cls = getattr(diffusers, self.pipeline_class)
        pipeline = pipeline_cls.from_pretrained(self._weights_dir(config),
                                                torch_dtype=getattr(torch, dtype))
        self.attach(pipeline, config, device)

    def _weights_dir(self, config: Mapping[str, Any]) -> str:
        """The local directory of `weights`: a path, or a hub id resolved in the HF cache."""
        weights = str(config["weights"])
        if Path(weights).expanduser().is_dir():
            return str(Path(weights).expanduser())
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(weights, revision=config["revision"] or None,
                                     local_files_only=bool(config["local_files_only"]))
        except (OSError, ValueError) as exc:  # not cached, not a repo id, or unreachable
            raise TTMBenchError(
                f"{self.name}: weights {weights!r} not found ({type(exc).__name__}); fetch them "
                f"with `huggingface-cli download {weights}` or pass --set weights=DIR"
            ) from exc

    def attach(self, pipeline: Any, config: Mapping[str, Any], device: str) -> None:
        """Use an already built `pipeline` (tests build tiny random ones) with `config`."""
        import torch

        for component in pipeline.components.values():
            if isinstance(component, torch.nn.Module):
                component.eval()  # inference: no dropout, whoever built the pipeline
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline.to(device)
        self.config = dict(config)

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        import torch
        from PIL import Image

        height, width = int(self.config["height"]), int(self.config["width"])
        image = Image.fromarray(prepare_image(request.image, height, width))
        torch.manual_seed(request.seed)  # pipelines also draw from the global RNG (VAE sampling)
        generator = torch.Generator("cpu").manual_seed(request.seed)
        with torch.inference_mode():
            output = self.pipeline(image=image, height=height, width=width,
                                   num_frames=int(self.config["frames"]), generator=generator,
                                   output_type="np", **self.call_arguments(request))
        frames = to_uint8(output.frames[0])
        record = {"pipeline": type(self.pipeline).__name__, "weights": self.config["weights"],
                  "revision": self.config["revision"]}
        return GeneratedVideo(frames, float(self.config["fps"]), {"diffusers": record})

    @abstractmethod
    def call_arguments(self, request: GenerationRequest) -> dict[str, Any]:
        """The pipeline-specific arguments of one call (prompt, guidance, steps ...)."""


class StableVideoDiffusion(DiffusersI2V):
    """Stable Video Diffusion (image only: the caption is not used)."""

    name = "svd"
    version = "1"
    pipeline_class = "StableVideoDiffusionPipeline"
    default_config: Mapping[str, Any] = {
        **COMMON_CONFIG,
        "weights": "stabilityai/stable-video-diffusion-img2vid-xt",
        "height": 576, "width": 1024, "frames": 25, "fps": 7,
        "steps": 25, "min_guidance_scale": 1.0, "max_guidance_scale": 3.0,
        "motion_bucket_id": 127, "noise_aug_strength": 0.02, "decode_chunk_size": 8,
    }

    def call_arguments(self, request: GenerationRequest) -> dict[str, Any]:
        c = self.config
        return {"num_inference_steps": c["steps"], "fps": c["fps"],
                "min_guidance_scale": c["min_guidance_scale"],
                "max_guidance_scale": c["max_guidance_scale"],
                "motion_bucket_id": c["motion_bucket_id"],
                "noise_aug_strength": c["noise_aug_strength"],
                "decode_chunk_size": c["decode_chunk_size"]}


class I2VGenXL(DiffusersI2V):
    """I2VGen-XL: the first frame plus the caption."""

    name = "i2vgen-xl"
    version = "1"
    pipeline_class = "I2VGenXLPipeline"
    default_config: Mapping[str, Any] = {
        **COMMON_CONFIG,
        "weights": "ali-vilab/i2vgen-xl",
        "height": 704, "width": 1280, "frames": 16, "fps": 16,
        "steps": 50, "guidance_scale": 9.0, "negative_prompt": "", "decode_chunk_size": 1,
    }

    def attach(self, pipeline: Any, config: Mapping[str, Any], device: str) -> None:
        # diffusers' (deprecated) I2VGen-XL pipeline reads `text_encoder.text_model`, which
        # transformers >= 5 folded into CLIPTextModel itself: alias it without registering a
        # submodule (a registered self-reference would recurse in state_dict).
        encoder = pipeline.text_encoder
        if not hasattr(encoder, "text_model"):
            object.__setattr__(encoder, "text_model", encoder)
        super().attach(pipeline, config, device)

    def call_arguments(self, request: GenerationRequest) -> dict[str, Any]:
        c = self.config
        return {"prompt": request.caption, "negative_prompt": c["negative_prompt"] or None,
                "target_fps": c["fps"], "num_inference_steps": c["steps"],
                "guidance_scale": c["guidance_scale"], "decode_chunk_size": c["decode_chunk_size"]}


class CogVideoXI2V(DiffusersI2V):
    """CogVideoX image-to-video: the first frame plus the caption."""

    name = "cogvideox-i2v"
    version = "1"
    pipeline_class = "CogVideoXImageToVideoPipeline"
    default_config: Mapping[str, Any] = {
        **COMMON_CONFIG,
        "weights": "THUDM/CogVideoX-5b-I2V",
        "height": 480, "width": 720, "frames": 49, "fps": 8,
        "steps": 50, "guidance_scale": 6.0, "use_dynamic_cfg": True, "negative_prompt": "",
    }

    def call_arguments(self, request: GenerationRequest) -> dict[str, Any]:
        c = self.config
        return {"prompt": request.caption, "negative_prompt": c["negative_prompt"] or None,
                "num_inference_steps": c["steps"], "guidance_scale": c["guidance_scale"],
                "use_dynamic_cfg": c["use_dynamic_cfg"]}
