"""Preprocessing, part 1: an LLM derives c_motion and one c_local per object from the caption c.

The paper uses Llama 3.1 8B with few-shot prompts from its supplementary; the few-shot prompt
here is our own. The model must answer one JSON object,
`{"motion_prompt": str, "objects": [{"label": str, "local_prompt": str}, ...]}`, which is
validated (`parse_prompt_set`); an invalid answer is retried, then reported with every problem.

Backends: `OpenAICompatibleBackend` (any server speaking the OpenAI chat-completions protocol:
vLLM, llama.cpp, Ollama, TGI…) and `TransformersBackend` (a local causal LM directory). Results
are cached per sample (`derive_prompts(..., cache_dir=...)`), keyed by caption and backend, so
reruns cost nothing. Benchmarks that already carry the prompts skip this step.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttm_bench.atomic import write_json
from ttm_bench.chat_completions import chat_completion
from ttm_bench.data.masks import PALETTE
from ttm_bench.errors import Problem, TTMBenchError, ValidationError

SYSTEM_PROMPT = """\
You turn a video caption into prompts for a two-stage image-to-video generator.
List the objects of the caption that move or could move (people, animals, vehicles, \
objects being acted upon); leave out the background and static scenery.
For each object write a short label (the noun phrase naming it in the caption) and a local \
prompt describing the object and what it does, with its appearance.
Write one motion prompt that describes only the motion of those objects: no colours, \
textures, materials, lighting or background.
Answer with one JSON object and nothing else:
{"motion_prompt": "...", "objects": [{"label": "...", "local_prompt": "..."}]}"""

FEW_SHOT: tuple[tuple[str, dict[str, Any]], ...] = (
    ("A golden retriever chases a red frisbee across a sunny park lawn.",
     {"motion_prompt": "A dog runs after a flying disc that glides through the air.",
      "objects": [{"label": "golden retriever",
                   "local_prompt": "A golden retriever running fast with its ears flapping."},
                  {"label": "red frisbee",
                   "local_prompt": "A red frisbee flying low and spinning."}]}),
    ("Two children on bicycles ride side by side down a tree-lined street at dusk.",
     {"motion_prompt": "Two people ride bicycles forward side by side, pedalling steadily.",
      "objects": [{"label": "child on the left bicycle",
                   "local_prompt": "A child pedalling a bicycle forward."},
                  {"label": "child on the right bicycle",
                   "local_prompt": "A child riding a bicycle next to another child."}]}),
    ("Steam rises from a cup of coffee on a wooden table while a hand stirs it with a spoon.",
     {"motion_prompt": "A hand moves a spoon in circles inside a cup.",
      "objects": [{"label": "hand",
                   "local_prompt": "A hand stirring slowly in small circles."},
                  {"label": "spoon",
                   "local_prompt": "A metal spoon turning around inside a coffee cup."}]}),
)


@dataclass(frozen=True)
class ObjectPrompt:
    label: str
    local_prompt: str


@dataclass(frozen=True)
class PromptSet:
    """c_motion and the objects (label, c_local) derived from one caption."""

    motion_prompt: str
    objects: tuple[ObjectPrompt, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"motion_prompt": self.motion_prompt,
                "objects": [{"label": o.label, "local_prompt": o.local_prompt}
                            for o in self.objects]}


def chat_messages(caption: str) -> list[dict[str, str]]:
    """The few-shot conversation asking for the prompts of `caption`."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for example, answer in FEW_SHOT:
        messages.append({"role": "user", "content": f"Caption: {example}"})
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    messages.append({"role": "user", "content": f"Caption: {caption}"})
    return messages


def parse_prompt_set(text: str, source: str) -> PromptSet:
    """Validate an LLM answer (the first JSON object in `text`, code fences allowed)."""
    problems: list[Problem] = []

    def problem(field: str, message: str, fix: str) -> None:
        problems.append(Problem(source, message, fix, field=field))

    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ValidationError([Problem(source, f"no JSON object in the answer {text[:80]!r}",
                                       "answer with one JSON object")])
    unknown = sorted(set(data) - {"motion_prompt", "objects"})
    if unknown:
        problem(unknown[0], f"unexpected keys {unknown}", "only motion_prompt and objects")
    motion = data.get("motion_prompt")
    if not (isinstance(motion, str) and motion.strip()):
        problem("motion_prompt", "missing or empty", "give a non-empty string")
    objects = data.get("objects")
    parsed: list[ObjectPrompt] = []
    if not isinstance(objects, list):
        problem("objects", "expected a list", "give a list of {label, local_prompt}")
        objects = []
    if len(objects) > len(PALETTE):
        problem("objects", f"{len(objects)} objects, at most {len(PALETTE)}",
                "keep the main moving objects")
    for i, obj in enumerate(objects):
        fields = obj if isinstance(obj, dict) else {}
        values = [fields.get(k) for k in ("label", "local_prompt")]
        if set(fields) != {"label", "local_prompt"} or not all(
                isinstance(v, str) and v.strip() for v in values):
            problem(f"objects[{i}]", f"invalid object {obj!r}",
                    "give exactly a non-empty label and local_prompt")
        else:
            parsed.append(ObjectPrompt(values[0].strip(), values[1].strip()))
    if problems:
        raise ValidationError(problems)
    return PromptSet(motion.strip(), tuple(parsed))


class PromptBackend(ABC):
    """A chat model answering the few-shot conversation."""

    @property
    @abstractmethod
    def key(self) -> str:
        """Identifies the backend and model in cache entries."""

    @abstractmethod
    def complete(self, messages: list[dict[str, str]]) -> str:
        """The assistant's answer to `messages`."""


class OpenAICompatibleBackend(PromptBackend):
    """POSTs to `{base_url}/chat/completions` (e.g. http://127.0.0.1:8000/v1), temperature 0."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 120.0):
        self.base_url, self.model, self.api_key, self.timeout = (
            base_url.rstrip("/"), model, api_key, timeout)

    @property
    def key(self) -> str:
        return f"openai:{self.base_url}:{self.model}"

    def complete(self, messages: list[dict[str, str]]) -> str:
        return chat_completion(
            self.base_url, {"model": self.model, "messages": messages, "temperature": 0.0},
            api_key=self.api_key, timeout=self.timeout, service="LLM", url_option="--llm-url")


class TransformersBackend(PromptBackend):
    """A local `transformers` causal LM directory with a chat template; greedy decoding."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", max_new_tokens: int = 512):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model_dir)
        if not path.is_dir():
            raise TTMBenchError(f"LLM directory {path} not found; download e.g. "
                                "meta-llama/Llama-3.1-8B-Instruct there")
        self.path, self.max_new_tokens = path, max_new_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device)

    @property
    def key(self) -> str:
        return f"transformers:{self.path.resolve()}"

    def complete(self, messages: list[dict[str, str]]) -> str:
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)
        ids = {k: v.to(self.model.device) for k, v in ids.items()}
        out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def derive_prompts(caption: str, backend: PromptBackend, *, sample_id: str,
                   cache_dir: str | Path | None = None, attempts: int = 2) -> PromptSet:
    """The prompts of one caption, from the cache when caption and backend match."""
    cache = None if cache_dir is None else Path(cache_dir) / f"{sample_id}.json"
    if cache is not None and cache.is_file():
        entry = json.loads(cache.read_text(encoding="utf-8"))
        if entry.get("caption") == caption and entry.get("backend") == backend.key:
            return parse_prompt_set(json.dumps(entry["prompts"]), str(cache))
    failures: list[ValidationError] = []
    for _ in range(max(1, attempts)):
        try:
            prompts = parse_prompt_set(backend.complete(chat_messages(caption)),
                                       f"LLM answer for sample {sample_id}")
        except ValidationError as exc:
            failures.append(exc)
            continue
        if cache is not None:
            write_json(cache, {"caption": caption, "backend": backend.key,
                               "prompts": prompts.to_dict()})
        return prompts
    raise failures[-1]
