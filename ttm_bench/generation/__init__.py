"""Generation: the VideoModel protocol, the model registry, the runner and its executors."""

from ttm_bench.generation.model import GenerationRequest, VideoModel
from ttm_bench.generation.registry import create_model, list_models, register_model, resolve_model

__all__ = [
    "GenerationRequest",
    "VideoModel",
    "create_model",
    "list_models",
    "register_model",
    "resolve_model",
]
