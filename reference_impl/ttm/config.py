"""Architecture configs (YAML files in `configs/`) and the method variants.

An architecture config fixes everything that shapes the weights: backbone (`unet` or `dit`),
the native clip (frames, height, width), the VAE, the text encoder, the denoiser, the diffusion
process and the default guidance. A variant (`VARIANTS`) fixes the method: which trajectory the
stages exchange and which extra layers are masked. `ttm` and its ablations share one
architecture; `ti2v` is stage 2 alone, without trajectory channels, with unmasked extra layers.

The shipped configs: `unet-tiny`/`dit-tiny` (random-weight tests, seconds on a CPU) and
`unet-512`/`dit-256` (the paper's scale; see docs/reference_ttm.md). The DiT variant uses the Wan
2.1 causal video VAE (4× temporal compression) in place of Movie Gen's unreleased TAE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from reference_impl.ttm.masked_attention import BACKENDS, SELF_MEMBERSHIPS
from ttm_bench.errors import Problem, UnknownNameError, ValidationError

CONFIG_DIR = Path(__file__).parent / "configs"

Backbone = Literal["unet", "dit"]


@dataclass(frozen=True)
class Variant:
    """One method of the family: TTM, the TI2V baseline, or an ablation.

    trajectory: what stage 1 generates and stage 2 reads ("mask", or "flow" for the optical-flow
        ablation, see `flow.py`), or None (no stage 1).
    masked_self / masked_cross: whether stage 2's extra layers are masked.
    """

    name: str
    trajectory: Literal["mask", "flow"] | None
    masked_self: bool
    masked_cross: bool


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("ttm", "mask", masked_self=True, masked_cross=True),
    Variant("ti2v", None, masked_self=False, masked_cross=False),
    Variant("ttm-no-masked-attn", "mask", masked_self=False, masked_cross=False),
    Variant("ttm-masked-cross", "mask", masked_self=False, masked_cross=True),
    Variant("ttm-masked-self", "mask", masked_self=True, masked_cross=False),
    Variant("ttm-flow", "flow", masked_self=False, masked_cross=False),
)}


def variant(name: str) -> Variant:
    """The variant called `name`; unknown names raise `UnknownNameError`."""
    if name not in VARIANTS:
        raise UnknownNameError("TTM variant", name, list(VARIANTS))
    return VARIANTS[name]


@dataclass(frozen=True)
class ArchitectureConfig:
    """A parsed architecture file; the dict fields are passed to the component builders.

    vae: {kind: autoencoder_kl | autoencoder_kl_wan, config: diffusers kwargs, scaling_factor}.
    text_encoder: {kind: clip | t5, config: transformers kwargs, tokenizer: byte | <path>,
        max_length}.
    denoiser: backbone kwargs plus object_blocks (K), object_heads, background,
        self_membership (mask | box, the rule of M_self), attention_backend (grouped | flex |
        sdpa; default grouped for the mask rule, sdpa for the box rule), query_chunk (sdpa).
    diffusion: {kind: ddim_v_zero_snr | flow_matching, steps, ...}.
    guidance: {visual, text}: InstructPix2Pix scales.
    training: {learning_rate, warmup_steps, condition_dropout}.
    """

    name: str
    backbone: Backbone
    frames: int
    height: int
    width: int
    vae: dict[str, Any]
    text_encoder: dict[str, Any]
    denoiser: dict[str, Any]
    diffusion: dict[str, Any]
    guidance: dict[str, Any] = field(default_factory=lambda: {"visual": 1.5, "text": 7.5})
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_SECTIONS = ("vae", "text_encoder", "denoiser", "diffusion")


def parse_architecture(data: Any, source: str) -> ArchitectureConfig:
    """Validate a config mapping; every problem is reported at once as a `ValidationError`."""
    problems: list[Problem] = []

    def problem(key: str, message: str, fix: str) -> None:
        problems.append(Problem(source, message, fix, field=key))

    if not isinstance(data, dict):
        raise ValidationError([Problem(source, "config must be a mapping", "write YAML keys")])
    if data.get("backbone") not in ("unet", "dit"):
        problem("backbone", f"unknown backbone {data.get('backbone')!r}", "use 'unet' or 'dit'")
    for key in ("frames", "height", "width"):
        value = data.get(key)
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            problem(key, f"expected a positive integer, got {value!r}", f"set {key}")
    for key in _SECTIONS:
        if not isinstance(data.get(key), dict):
            problem(key, "missing section", f"add a {key!r} mapping (see configs/unet-tiny.yaml)")
    denoiser = data.get("denoiser") if isinstance(data.get("denoiser"), dict) else {}
    for key, allowed in (("self_membership", SELF_MEMBERSHIPS), ("attention_backend", BACKENDS)):
        if key in denoiser and denoiser[key] not in allowed:
            problem(f"denoiser.{key}", f"unknown value {denoiser[key]!r}",
                    f"use one of {list(allowed)}")
    unknown = sorted(set(data) - set(ArchitectureConfig.__dataclass_fields__))
    if unknown:
        problem(unknown[0], f"unknown key(s) {unknown}", "remove them")
    if problems:
        raise ValidationError(problems)
    return ArchitectureConfig(**{"name": Path(source).stem, **data})


def load_architecture(name_or_path: str | Path) -> ArchitectureConfig:
    """Load a shipped config by name (`unet-tiny`) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            known = [p.stem for p in CONFIG_DIR.glob("*.yaml")]
            raise UnknownNameError("architecture config", str(name_or_path), known)
    if not path.is_file():
        raise ValidationError([Problem(str(path), "file not found", "give an existing YAML")])
    return parse_architecture(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
