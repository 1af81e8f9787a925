"""Distributed evaluation's contract for every metric: videos split over copies whose `state()`s
are merged give exactly the metric of one copy that saw them all; metrics pickle to workers."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ttm_bench.metrics.base import EvalItem, Metric
from ttm_bench.metrics.feature_cache import FeatureCache
from ttm_bench.metrics.registry import create_metric

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")

CAPTIONS = ["a dog runs", "two balls roll apart", "a car turns left", "", "birds", "a boat"]


@pytest.fixture(scope="module")
def items() -> list[EvalItem]:
    """Six samples of 16 frames (enough for fvd16) with every field a metric may need."""
    rng = np.random.default_rng(0)
    out = []
    for i, caption in enumerate(CAPTIONS):
        video = rng.integers(0, 256, (16, 32, 40, 3), dtype=np.uint8)
        reference = rng.integers(0, 256, (16, 32, 40, 3), dtype=np.uint8)
        out.append(EvalItem(f"s{i}", "single" if i % 2 else "multi", video, 8.0,
                            caption=caption, image=reference[0], reference=reference))
    return out


#: Model metrics compute every feature (a cache would hand the whole copy's features to the rest).
UNCACHED = {"feature_cache": FeatureCache(None)}


def builder(name: str, **options: object) -> Callable[[], Metric]:
    """Fresh, set-up copies of one metric."""

    def build() -> Metric:
        metric = create_metric(name, **options)
        metric.setup("cpu")
        return metric

    return build


def assert_merged_equals_whole(build: Callable[[], Metric], items: list[EvalItem]) -> None:
    """Split the items 2 + 4 over two copies, merge their pickled states into a third (in order)
    and compare it bit for bit with a copy that saw every item."""
    whole, first, second, merged = build(), build(), build(), build()
    for item in items:
        whole.update(item)
    for item in items[:2]:
        first.update(item)
    for item in items[2:]:
        second.update(item)
    for part in (first, second):
        merged.merge_state(pickle.loads(pickle.dumps(part.state())))
    assert merged.sample_ids == whole.sample_ids == [item.sample_id for item in items]
    assert list(merged.per_sample().items()) == list(whole.per_sample().items())
    assert merged.compute() == whole.compute()
    for ids in (["s1", "s4", "s5"], ["s0", "s0", "s3", "s5", "s2", "s2"]):  # resample: repeats
        assert merged.compute_on(ids) == whole.compute_on(ids)
    assert merged.warnings == whole.warnings


def test_fvd_merges_per_sample_features(items: list[EvalItem],
                                        scripted_i3d: torch.jit.ScriptModule) -> None:
    build = builder("fvd16", model=scripted_i3d, **UNCACHED)
    assert_merged_equals_whole(build, items)
    metric = build()
    metric.update(items[0])
    state = metric.state()
    assert set(state) == {"generated", "reference"}
    assert state["generated"]["s0"].shape == (400,) and state["generated"]["s0"].dtype == np.float64
    assert not np.array_equal(state["generated"]["s0"], state["reference"]["s0"])
    assert metric.per_sample() == {}  # set-level: the state is features, not values


@pytest.mark.parametrize("name", ["clipframe", "clipframe_consecutive"])
def test_clipframe_embeds_its_queue_before_handing_over_its_state(
        name: str, items: list[EvalItem], tiny_clip: torch.nn.Module) -> None:
    # 16 frames a video and batches of 24: each copy has frames queued when asked for its state
    build = builder(name, model=tiny_clip, image_size=32, batch_size=24, **UNCACHED)
    assert_merged_equals_whole(build, items)
    alone = build()
    alone.update(items[0])
    assert alone.state() == {"s0": alone.score(items[0])}  # the queued video is in the state


def test_clipframe_merge_keeps_videos_queued_before_it_first(
        items: list[EvalItem], tiny_clip: torch.nn.Module) -> None:
    build = builder("clipframe", model=tiny_clip, image_size=32, batch_size=24,
                    **UNCACHED)
    whole, other, merged = build(), build(), build()
    for item in items:
        whole.update(item)
    for item in items[1:]:
        other.update(item)
    merged.update(items[0])  # still queued: 16 frames < 24
    merged.merge_state(other.state())
    assert list(merged.per_sample().items()) == list(whole.per_sample().items())


@pytest.mark.parametrize("name", ["viclip_t", "viclip_v", "viclip_v_static"])
def test_viclip_states_merge(name: str, items: list[EvalItem],
                             tiny_viclip: torch.nn.Module) -> None:
    assert_merged_equals_whole(builder(name, model=tiny_viclip, num_frames=4, size=28,
                                               **UNCACHED), items)


def test_ad_states_merge(items: list[EvalItem]) -> None:
    assert_merged_equals_whole(builder("ad_dis", eval_short_side=64), items)


def test_a_loaded_model_stays_behind_and_loads_again_in_the_copy(
        items: list[EvalItem], scripted_i3d: torch.jit.ScriptModule, tmp_path: Path) -> None:
    path = tmp_path / "i3d_torchscript.pt"
    scripted_i3d.save(str(path))
    metric = create_metric("fvd16", checkpoint=path, **UNCACHED)
    metric.setup("cpu")
    blob = pickle.dumps(metric)
    assert len(blob) < path.stat().st_size  # the detector's weights are not in it
    copy = pickle.loads(blob)
    assert copy.preset == metric.preset and copy.label == metric.label
    with pytest.raises(Exception, match="used before setup"):
        copy.model  # noqa: B018 - the property raises
    copy.setup("cpu")  # loads from the same checkpoint option
    assert copy.feature_hash == metric.feature_hash
    for item in items[:3]:
        metric.update(item)
        copy.update(item)
    assert copy.compute() == metric.compute()


def test_an_injected_torchscript_model_travels_as_its_bytes(
        items: list[EvalItem], scripted_i3d: torch.jit.ScriptModule) -> None:
    with pytest.raises(RuntimeError, match="__getstate__"):
        pickle.dumps(scripted_i3d)  # why the metric saves it with torch.jit.save
    metric = builder("fvd16", model=scripted_i3d, **UNCACHED)()
    copy = pickle.loads(pickle.dumps(metric))
    assert isinstance(copy.model, torch.jit.ScriptModule) and copy.model is not scripted_i3d
    copy.setup("cpu")
    assert copy.feature_hash == metric.feature_hash  # the same weights
    for item in items[:3]:
        metric.update(item)
        copy.update(item)
    assert copy.state()["generated"]["s2"].tobytes() == metric.state()["generated"]["s2"].tobytes()


def test_ad_pickles_without_its_backend(items: list[EvalItem]) -> None:
    metric = create_metric("ad_dis", eval_short_side=64)
    metric.setup("cpu")  # builds a closure, which pickle cannot take
    copy = pickle.loads(pickle.dumps(metric))
    copy.setup("cpu")
    assert copy.score(items[0]) == metric.score(items[0]) > 0
