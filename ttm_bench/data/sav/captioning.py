"""Vision-language captioning of candidate videos: prompts, answer parsing and two backends.

The paper captioned each SA-V video with Llama 3.2 11B Vision from its first, middle and last
frames and put it into one of ten categories. Here the frames are joined side by side into one
image (`frame_strip`), since Llama 3.2 Vision takes a single image per prompt, and the model is
asked for JSON holding a caption and a category. Backends:

- `OpenAICompatibleVLM`: any server speaking the OpenAI chat-completions API with image inputs
  (vLLM, llama.cpp server, Ollama, TGI, ...), at greedy decoding.
- `TransformersVLM`: a local Hugging Face checkpoint directory (e.g. the weights registry's
  `llama_3_2_11b_vision_instruct`), loaded with `transformers`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from ttm_bench.chat_completions import chat_completion
from ttm_bench.data.sav.selection import CATEGORIES
from ttm_bench.errors import TTMBenchError

VLM_WEIGHTS = "llama_3_2_11b_vision_instruct"  # the paper's captioner (a model directory)

CATEGORY_PROMPT = (
    "The image shows the first, middle and last frames of one video, left to right. "
    "Describe the video in one or two sentences (subjects, their motion, the scene), then "
    "classify it into exactly one of these categories: " + ", ".join(CATEGORIES) + ". "
    'Answer with JSON only: {"caption": "...", "category": "..."}'
)
SHORT_CAPTION_PROMPT = (
    "The image shows the first, middle and last frames of a short video clip, left to right. "
    "Describe the clip in one sentence: the main subjects and how they move. "
    'Answer with JSON only: {"caption": "..."}'
)


class VisionLanguageModel(Protocol):
    """Answers a text prompt about one RGB image."""

    @property
    def identity(self) -> dict[str, Any]:
        """What determines the answers (backend, model, decoding): recorded with the captions."""
        ...

    def describe(self, image: np.ndarray, prompt: str) -> str:
        """`image`: uint8 [H, W, 3]; returns the model's raw text answer."""
        ...


class InvalidAnswerError(TTMBenchError):
    """The VLM's answer cannot be used (not JSON, no caption, unknown category)."""


@dataclass(frozen=True)
class CaptionAnswer:
    caption: str
    category: str | None


def frame_strip(frames: Sequence[np.ndarray], height: int = 336) -> np.ndarray:
    """Frames (uint8 [H, W, 3] each) resized to `height` keeping aspect, joined left to right."""
    resized = []
    for frame in frames:
        h, w = frame.shape[:2]
        width = max(1, round(w * height / h))
        resized.append(np.asarray(Image.fromarray(frame).resize((width, height),
                                                                Image.Resampling.BICUBIC)))
    return np.concatenate(resized, axis=1)


def parse_answer(text: str, *, want_category: bool) -> CaptionAnswer:
    """Read `{"caption": ..., "category": ...}` from a model answer (code fences allowed).

    The category must name one of `CATEGORIES` (case and surrounding spaces ignored).
    Raises `InvalidAnswerError` quoting the answer otherwise.
    """
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("caption"), str) or not \
            data["caption"].strip():
        raise InvalidAnswerError(f"the answer has no JSON caption: {text[:200]!r}")
    category = None
    if want_category:
        raw = data.get("category")
        names = {c.lower(): c for c in CATEGORIES}
        category = names.get(raw.strip().lower()) if isinstance(raw, str) else None
        if category is None:
            raise InvalidAnswerError(f"category {raw!r} is not one of {', '.join(CATEGORIES)}")
    return CaptionAnswer(" ".join(data["caption"].split()), category)


def png_data_url(image: np.ndarray) -> str:
    """A `data:image/png;base64,...` URL of `image` (uint8 [H, W, 3])."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAICompatibleVLM:
    """A chat-completions endpoint: `POST {base_url}/chat/completions`, greedy decoding.

    `api_key_env` names an environment variable holding a bearer token, for servers that need
    one; local servers usually do not.
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY",
                 max_tokens: int = 300, timeout_s: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = os.environ.get(api_key_env)
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    @property
    def identity(self) -> dict[str, Any]:
        # the server's address does not change the answers, so it is not part of the identity
        return {"backend": "openai-compatible", "model": self.model,
                "max_tokens": self.max_tokens, "temperature": 0}

    def describe(self, image: np.ndarray, prompt: str) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "seed": 0,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": png_data_url(image)}},
                {"type": "text", "text": prompt},
            ]}],
        }
        return chat_completion(self.base_url, body, api_key=self.api_key,
                               timeout=self.timeout_s, service="VLM", url_option="--vlm-url",
                               model_option="--vlm-model")


class TransformersVLM:
    """A local image-text-to-text checkpoint directory run with `transformers`, greedy.

    `checkpoint` is a directory as saved by `save_pretrained` (config, processor, weights);
    take it from the weights registry (`VLM_WEIGHTS`).
    """

    def __init__(self, checkpoint: str | os.PathLike[str], *, device: str = "cpu",
                 dtype: str = "float32", max_new_tokens: int = 300):
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_dir():
            raise TTMBenchError(f"VLM checkpoint {self.checkpoint} is not a directory; fetch "
                                f"{VLM_WEIGHTS!r} with `ttm-bench weights fetch` or pass the "
                                "directory of a saved transformers model")
        self.device, self.dtype, self.max_new_tokens = device, dtype, max_new_tokens
        self._model: Any = None
        self._processor: Any = None

    @property
    def identity(self) -> dict[str, Any]:
        return {"backend": "transformers", "checkpoint": self.checkpoint.name,
                "max_new_tokens": self.max_new_tokens, "dtype": self.dtype}

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self._processor = AutoProcessor.from_pretrained(self.checkpoint)
        self._model = AutoModelForImageTextToText.from_pretrained(
            self.checkpoint, dtype=getattr(torch, self.dtype)).to(self.device).eval()

    def describe(self, image: np.ndarray, prompt: str) -> str:
        import torch

        if self._model is None:
            self._load()
        messages = [{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": prompt}]}]
        text = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self._processor(images=[Image.fromarray(image)], text=text,
                                 return_tensors="pt").to(self.device)
        with torch.inference_mode():
            output = self._model.generate(**inputs, do_sample=False,
                                          max_new_tokens=self.max_new_tokens)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return str(self._processor.decode(new_tokens, skip_special_tokens=True))
