"""Base for metrics that run a network: checkpoint lookup, device, and explicit test models.

The network comes from the weights registry (`ttm_bench.weights.locate`, honouring a
`checkpoint=PATH` keyword) when `setup` runs; a missing or corrupt file raises
`MissingWeightsError`. A caller may instead hand over a ready model with `model=` (tests use
tiny random-weight models this way); nothing ever substitutes random weights on its own. Neither
keyword is part of the preset: they say where the weights are, not how the number is computed.

A metric pickles (for Ray workers) without a model it loaded, which the receiving process's
`setup` loads again from the same checkpoint; an injected model travels along, a TorchScript
one (which pickle refuses) as its `torch.jit.save` bytes.

Network outputs per video go through a `FeatureCache` keyed by the content hash and
`feature_hash`: the preset parameters listed in `feature_params` plus the sha256 of the weights
actually loaded, so a different checkpoint never reuses another's features.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ttm_bench import weights
from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import Metric, MissingWeightsError, Preset
from ttm_bench.metrics.feature_cache import FeatureCache


class ModelMetric(Metric):
    """A metric backed by `checkpoint_name` in the weights registry."""

    checkpoint_name: ClassVar[str]
    feature_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, checkpoint: str | os.PathLike[str] | None = None, model: Any = None,
                 feature_cache: FeatureCache | None = None, **params: Any) -> None:
        self._checkpoint = checkpoint
        self._model = model
        self._injected = model is not None
        self.feature_cache = feature_cache or FeatureCache.default()
        self.device = "cpu"
        self.feature_hash = ""
        super().__init__(**params)

    def setup(self, device: str) -> None:
        self.device = device
        if self._model is None:
            path = weights.locate(self.checkpoint_name, self._checkpoint)
            weights_id = weights.cached_sha256(path)
            self._model = self.load_model(path, device)
        else:
            weights_id = module_sha256(self._model)
            if isinstance(self._model, torch.nn.Module):
                self._model = self._model.to(device).eval()
        self.check_model(self._model)
        pinned = {k: self.params[k] for k in self.feature_params}
        self.feature_hash = Preset(f"{self.checkpoint_name}-features",
                                   {**pinned, "weights_sha256": weights_id}).hash

    def features(self, content_sha256: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Cached network output for the content with this hash."""
        return self.feature_cache.get_or_compute(content_sha256, self.feature_hash, compute)

    @property
    def model(self) -> Any:
        if self._model is None:
            raise TTMBenchError(f"metric {self.name!r} was used before setup(device)")
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        """The metric without a loaded model; an injected TorchScript model as `ScriptBytes`."""
        state = self.__dict__.copy()
        if not self._injected:
            state["_model"] = None
        elif isinstance(self._model, torch.jit.ScriptModule):
            buffer = io.BytesIO()
            with warnings.catch_warnings():  # torch deprecates TorchScript; the model is one
                warnings.simplefilter("ignore", FutureWarning)
                torch.jit.save(self._model, buffer)
            state["_model"] = ScriptBytes(buffer.getvalue())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["_model"], ScriptBytes):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                state["_model"] = torch.jit.load(io.BytesIO(state["_model"].data),
                                                 map_location="cpu")
        self.__dict__.update(state)

    @abstractmethod
    def load_model(self, path: Path, device: str) -> Any:
        """Build the network from the verified checkpoint file at `path`."""

    def check_model(self, model: Any) -> None:
        """Raise `TTMBenchError` when `model` does not fit the preset (e.g. frame count)."""


@dataclass(frozen=True)
class ScriptBytes:
    """A TorchScript module saved by `torch.jit.save`, the form in which it pickles."""

    data: bytes


def module_sha256(module: Any) -> str:
    """sha256 over a module's state dict (names and float64 values), for injected models."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().to(torch.float64).numpy().tobytes())
    return digest.hexdigest()


def load_state_dict(path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file (`weights_only` unpickling), optionally under `key`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        if "Unsupported global" in str(exc):
            raise MissingWeightsError(
                f"{path} holds pickled Python objects besides tensors, which ttm-bench does not "
                "unpickle (torch.load weights_only=True). If you trust the file, save its "
                f"tensors alone: python -c \"import torch; s = torch.load('{path}', "
                "weights_only=False); torch.save({'model': s.get('model', s)}, 'tensors.pth')\" "
                "and pass checkpoint=tensors.pth") from exc
        raise MissingWeightsError(f"{path} is not a readable PyTorch checkpoint "
                                  f"({str(exc).splitlines()[0]}); delete it and fetch it "
                                  "again") from exc
    if key is not None and isinstance(state, dict) and key in state:
        state = state[key]
    return state


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """`load_state_dict(strict=True)` with a message naming the file when keys/shapes differ."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise MissingWeightsError(f"{path} does not match the expected architecture: "
                                  f"{' '.join(str(exc).split())[:500]}") from exc
