"""TTM checkpoints: a directory with `ttm.json` (format, variant, architecture) and
`model.safetensors` (the state dict of `TTMComponents`).

Format 2 records the rule of M_self in `architecture.denoiser.self_membership` ("mask" or
"box"). Format 1 predates the mask rule: its checkpoints were trained with boxes and load with
`self_membership: box`.

No TTM weights have been released by the paper's authors, so there is nothing to download:
a checkpoint comes from `reference_impl.ttm.train`. Every loading problem raises
`TTMBenchError` naming the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.config import parse_architecture, variant
from ttm_bench.atomic import atomic_path, write_json
from ttm_bench.errors import TTMBenchError, ValidationError

FORMAT = "ttm-bench-reference-ttm/2"
_BOX_RULE_FORMAT = "ttm-bench-reference-ttm/1"
MANIFEST, WEIGHTS = "ttm.json", "model.safetensors"
NO_RELEASED_WEIGHTS = (
    "no Through-The-Mask weights have been released; train a checkpoint with "
    "`python -m reference_impl.ttm.train` (see docs/reference_ttm.md) and pass its directory "
    "as checkpoint=DIR"
)


def save_checkpoint(components: TTMComponents, directory: str | Path) -> Path:
    """Write `components` to `directory` (created; files replaced atomically)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    # clones: tied weights (e.g. T5's shared embedding) are stored once per name
    state = {k: v.detach().cpu().clone() for k, v in components.state_dict().items()}
    with atomic_path(root / WEIGHTS) as tmp:
        save_file(state, str(tmp))
    arch = components.arch.to_dict()
    arch["denoiser"] = {"self_membership": "mask", **arch["denoiser"]}  # the rule, explicitly
    write_json(root / MANIFEST, {"format": FORMAT, "variant": components.variant.name,
                                 "architecture": arch})
    return root


def load_checkpoint(directory: str | Path, expected_variant: str | None = None,
                    device: str = "cpu") -> TTMComponents:
    """Load a checkpoint directory; `expected_variant` guards against e.g. a TI2V checkpoint
    loaded as `ttm`."""
    if not str(directory):
        raise TTMBenchError(f"no checkpoint given: {NO_RELEASED_WEIGHTS}")
    root = Path(directory)
    manifest_path, weights_path = root / MANIFEST, root / WEIGHTS
    if not manifest_path.is_file() or not weights_path.is_file():
        raise TTMBenchError(f"{root} is not a TTM checkpoint (needs {MANIFEST} and {WEIGHTS}); "
                            f"{NO_RELEASED_WEIGHTS}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TTMBenchError(f"{manifest_path}: invalid JSON ({exc}); rewrite it by saving the "
                            "checkpoint again") from exc
    if isinstance(manifest, dict) and manifest.get("format") == _BOX_RULE_FORMAT:
        manifest = _upgrade_box_rule(manifest)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise TTMBenchError(f"{manifest_path}: format {found!r}, expected {FORMAT!r}; "
                            "this file was not written by reference_impl.ttm")
    name = manifest.get("variant")
    if expected_variant is not None and name != expected_variant:
        raise TTMBenchError(f"{root} holds a {name!r} checkpoint, not {expected_variant!r}; "
                            f"use --model {name} or a {expected_variant!r} checkpoint")
    try:
        arch = parse_architecture(manifest.get("architecture"), str(manifest_path))
    except ValidationError as exc:
        raise TTMBenchError(f"{manifest_path}: invalid architecture: {exc}") from exc
    components = TTMComponents(arch, variant(str(name)))
    state = load_file(str(weights_path))
    expected = components.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        details = "; ".join(f"{label}: {keys[:3]}{' …' if len(keys) > 3 else ''}"
                            for label, keys in (("missing", missing), ("unexpected", unexpected),
                                                ("wrong shape", wrong)) if keys)
        raise TTMBenchError(f"{weights_path} does not match the architecture in {MANIFEST} "
                            f"({details}); the two files come from different models")
    components.load_state_dict(state)
    return components.to(device).eval()


def _upgrade_box_rule(manifest: dict) -> dict:
    """A format-1 manifest as format 2: its M_self was built from boxes."""
    arch = manifest.get("architecture")
    if isinstance(arch, dict) and isinstance(arch.get("denoiser"), dict):
        arch = {**arch, "denoiser": {"self_membership": "box", **arch["denoiser"]}}
    return {**manifest, "format": FORMAT, "architecture": arch}
