"""Benchmark contract: samples, manifests, masks, and the benchmark builders."""

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.sample import BenchmarkInfo, ObjectSpec, Sample

__all__ = ["Benchmark", "BenchmarkInfo", "ObjectSpec", "Sample"]
