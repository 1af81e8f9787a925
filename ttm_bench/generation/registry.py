"""Model registry: names → `VideoModel` classes, resolved lazily.

Models register in three ways, all resolved only when chosen, so heavy backends import on
demand: the `ttm_bench.models` entry-point group (how `baselines` and `reference_impl`
register; `ttm_bench` never imports them), `register_model` at import time, or an explicit
`module:Class` target given as the model name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.generation.model import VideoModel
from ttm_bench.overrides import check_overrides

ENTRY_POINT_GROUP = "ttm_bench.models"

_REGISTERED: dict[str, type[VideoModel] | str] = {}


def register_model(name: str) -> Callable[[type[VideoModel]], type[VideoModel]]:
    """Class decorator registering a `VideoModel` under `name`."""

    def decorator(cls: type[VideoModel]) -> type[VideoModel]:
        _REGISTERED[name] = cls
        return cls

    return decorator


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def list_models() -> list[str]:
    """All known model names (entry points and explicit registrations)."""
    return sorted(set(_entry_points()) | set(_REGISTERED))


def _import_target(target: str) -> type[VideoModel]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise TTMBenchError(f"model target {target!r}: module {module_name!r} not found; "
                                "check the name or install the package providing it") from exc
        raise  # a real import error inside the model's module: show it, never hide it
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, VideoModel)):
        raise TTMBenchError(f"model target {target!r} is not a VideoModel subclass")
    return cls


def resolve_model(name: str) -> type[VideoModel]:
    """Return the class for a registered name or a `module:Class` target."""
    if name in _REGISTERED:
        entry = _REGISTERED[name]
        return entry if isinstance(entry, type) else _import_target(entry)
    entry_points = _entry_points()
    if name in entry_points:
        return _import_target(entry_points[name])
    if ":" in name:
        return _import_target(name)
    raise UnknownNameError("model", name, list_models())


def merge_config(cls: type[VideoModel], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `overrides` over the model's defaults, rejecting unknown keys and values of
    another type than the key's default (`overrides.check_overrides`)."""
    config = dict(cls.default_config)
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise TTMBenchError(
            f"model {cls.name!r} has no config key(s) {unknown}; "
            f"known keys: {sorted(config) or 'none'}"
        )
    config.update(check_overrides(config, overrides, f"model {cls.name!r}", "--set "))
    return config


def create_model(name: str, overrides: Mapping[str, Any], device: str = "cpu") -> VideoModel:
    """Resolve, instantiate and load a model; returns it ready to `generate`."""
    cls = resolve_model(name)
    model = cls()
    try:
        model.load(merge_config(cls, overrides), device)
    except Exception as exc:
        changed = describe_changes(cls, overrides)
        if not changed:
            raise
        raise TTMBenchError(
            f"model {cls.name!r} failed to load with {changed}: {exc}; check these values. The "
            "run directory's run.json already records this config: rerun with the corrected "
            "values and a new --out") from exc
    return model


def describe_changes(cls: type[VideoModel], config: Mapping[str, Any]) -> str:
    """The keys of `config` that differ from the model's defaults, as `--set k=v` options
    ("" when none)."""
    return " ".join(f"--set {key}={value}" for key, value in config.items()
                    if cls.default_config.get(key) != value)
