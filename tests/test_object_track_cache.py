"""The object metrics' disk cache of tracks: hits without tracking, equal numbers, keys that
change with the tracking preset (and only with it), damaged entries recomputed, unwritable
caches tolerated, concurrent writers."""

from __future__ import annotations

import multiprocessing
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics import EvalItem, create_metric
from ttm_bench.metrics.objects import metrics as object_metrics
from ttm_bench.metrics.objects.flow_tracker import FlowTracker
from ttm_bench.metrics.objects.track_cache import (
    MemoryTrackCache,
    TrackCache,
    arrays_sha256,
    binarised,
    entry_key,
    from_arrays,
    to_arrays,
)
from ttm_bench.metrics.objects.tracker import tracker_weights_sha256
from ttm_bench.metrics.objects.tracks import ObjectTracks
from ttm_bench.metrics.registry import GROUPS


@pytest.fixture
def track_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the flow tracker's tracking runs; the in-process memo starts empty."""
    calls: list[int] = []
    track = FlowTracker.track

    def counting(self: FlowTracker, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        calls.append(len(video))
        return track(self, video, first_masks)

    monkeypatch.setattr(FlowTracker, "track", counting)
    monkeypatch.setattr(object_metrics, "_last_tracking", None)
    return calls


def moving_item(seed: int = 0) -> EvalItem:
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (8, 8, 3), np.uint8).repeat(8, 0).repeat(8, 1)  # 64 px
    video = np.stack([np.roll(texture, 2 * t, axis=1) for t in range(4)])
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 8:30, 8:24] = True
    masks[1, 40:60, 30:60] = True
    return EvalItem(f"s{seed}", "all", video, 8.0, masks=masks)


def scores(cache: TrackCache, item: EvalItem, **params: object) -> dict[str, float]:
    """Every object metric of `item` (fresh metrics and memo: only the disk cache is shared)."""
    object_metrics._last_tracking = None
    return {name: create_metric(name, track_cache=cache, **params).score(item)
            for name in GROUPS["objects"] if name != "trajectory_miou"}


def test_entry_round_trip_keeps_rows_and_binarised_masks() -> None:
    rng = np.random.default_rng(1)
    masks = rng.random((3, 2, 5, 7)).astype(np.float32)
    tracks = ObjectTracks(masks, rng.random((2, 2)), rng.random(2), rng.random(2), rng.random(2))
    back = from_arrays(to_arrays(tracks))
    np.testing.assert_array_equal(back.masks, masks >= 0.5)
    assert back.masks.dtype == np.float32
    for name in ("object_displacement", "background_displacement", "frame_displacement",
                 "object_motion"):
        np.testing.assert_array_equal(getattr(back, name), getattr(tracks, name))
    points = ObjectTracks(None, np.full((1, 2), np.nan), np.zeros(2), np.ones(2), np.ones(2))
    assert from_arrays(to_arrays(points)).masks is None
    assert binarised(points) is points
    assert to_arrays(tracks)["packed_masks"].nbytes == -(-masks.size // 8)


def test_second_evaluation_reads_the_cache_without_tracking(
        small_bench: Benchmark, tmp_path: Path, track_calls: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    generate_run(small_bench.root, "ground-truth", tmp_path / "run", progress=False)
    inputs = inputs_from_run(tmp_path / "run", small_bench.root)
    first = evaluate(inputs, tmp_path / "first", ["objects"], n_boot=10, progress=False)
    assert len(track_calls) == 4  # one tracking per video for all five metrics
    entries = sorted((tmp_path / "cache" / "object_tracks").rglob("*.npz"))
    assert len(entries) == 4
    monkeypatch.setattr(object_metrics, "_last_tracking", None)
    second = evaluate(inputs, tmp_path / "second", ["objects"], n_boot=10, progress=False)
    assert len(track_calls) == 4  # nothing tracked again
    assert second["aggregate"] == first["aggregate"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "first" / "per_sample.parquet"),
                                  pd.read_parquet(tmp_path / "second" / "per_sample.parquet"))


def test_cached_and_fresh_tracks_give_equal_values(tmp_path: Path,
                                                   track_calls: list[int]) -> None:
    cache = TrackCache(tmp_path)
    fresh = scores(cache, moving_item())
    cached = scores(cache, moving_item())
    assert len(track_calls) == 1 and cache.hits == 1 and fresh == cached
    assert fresh["ad_object"] > 1.0  # a real, moving video


def test_key_follows_the_tracking_preset_only(tmp_path: Path, track_calls: list[int]) -> None:
    cache = TrackCache(tmp_path)
    scores(cache, moving_item())
    object_metrics._last_tracking = None
    create_metric("motion_locality", track_cache=cache, static_px=0.5).score(moving_item())
    assert len(track_calls) == 1  # a metric's own parameter: the same tracks
    scores(cache, moving_item(), eval_short_side=96)
    scores(cache, moving_item(), eval_short_side=128)
    assert len(track_calls) == 3
    assert len({p.parent.parent.name for p in tmp_path.rglob("*.npz")}) == 3
    scores(cache, moving_item(seed=1))  # another video
    masks_changed = moving_item()
    masks_changed.masks[1, 40:44] = False
    scores(cache, masks_changed)
    assert len(track_calls) == 5


def test_injected_tracker_is_never_cached_on_disk(tmp_path: Path,
                                                  track_calls: list[int]) -> None:
    cache = TrackCache(tmp_path)
    item = moving_item()
    for _ in range(2):
        object_metrics._last_tracking = None
        create_metric("ad_object", model=FlowTracker(), track_cache=cache).score(item)
    assert len(track_calls) == 2 and not list(tmp_path.rglob("*.npz"))


def _damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_values(path: Path) -> None:
    """A well-formed npz whose displacements were edited, keeping the old digest."""
    with np.load(path) as entry:
        arrays = {name: entry[name] for name in entry.files}
    arrays["object_displacement"] = arrays["object_displacement"] * 2
    np.savez(path, **arrays)


def _damage_digest(path: Path) -> None:
    with np.load(path) as entry:
        arrays = {name: entry[name] for name in entry.files if name != "sha256"}
    np.savez(path, **arrays)


def _another_entry(path: Path) -> None:
    """Another video's valid entry copied under this one's name."""
    cache = TrackCache(path.parents[2])
    scores(cache, moving_item(seed=5))
    other = next(p for p in path.parents[2].rglob("*.npz") if p != path)
    shutil.copy(other, path)


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_values, _damage_digest,
                                    _another_entry, lambda p: p.write_bytes(b"")])
def test_damaged_entry_is_recomputed_never_trusted(tmp_path: Path, track_calls: list[int],
                                                   damage: object) -> None:
    cache = TrackCache(tmp_path)
    expected = scores(cache, moving_item())
    [entry] = tmp_path.rglob("*.npz")
    damage(entry)
    del track_calls[1:]  # the other entry's tracking
    with pytest.warns(RuntimeWarning, match="tracking the video again"):
        again = scores(cache, moving_item())
    assert again == expected and len(track_calls) == 2 and cache.rejected == 1
    assert scores(cache, moving_item()) == expected  # the entry was rewritten
    assert len(track_calls) == 2


def test_unwritable_cache_falls_back_to_tracking_with_one_warning(
        tmp_path: Path, track_calls: list[int]) -> None:
    (tmp_path / "file").write_text("not a folder")
    cache = TrackCache(tmp_path / "file" / "cache")  # cannot be created, even by root
    with pytest.warns(RuntimeWarning, match="cannot be written") as caught:
        first = scores(cache, moving_item())
        second = scores(cache, moving_item())
    assert first == second and len(track_calls) == 2
    assert sum("cannot be written" in str(w.message) for w in caught) == 1


def _write_repeatedly(root: str, key: str, rounds: int) -> None:
    cache = TrackCache(Path(root))
    tracks = binarised(ObjectTracks(np.ones((4, 2, 32, 32), np.float32), np.ones((2, 3)),
                                    np.zeros(3), np.ones(3), np.ones(3)))
    for _ in range(rounds):
        cache.put(key, "h" * 16, tracks)


def test_concurrent_writers_leave_whole_entries(tmp_path: Path) -> None:
    key = "ab" * 32
    _write_repeatedly(str(tmp_path), key, 1)
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_repeatedly, args=(str(tmp_path), key, 30))
               for _ in range(2)]
    for writer in writers:
        writer.start()
    reader = TrackCache(tmp_path)
    while any(w.is_alive() for w in writers):
        assert reader.get(key, "h" * 16) is not None
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert reader.rejected == 0
    assert [p.name for p in (tmp_path / ("h" * 16) / "ab").iterdir()] == [f"{key}.npz"]


def test_digest_covers_names_shapes_dtypes_and_the_key() -> None:
    a = {"x": np.zeros((2, 3))}
    assert arrays_sha256(a, "h/k1") != arrays_sha256(a, "h/k2")
    assert arrays_sha256(a) != arrays_sha256({"y": np.zeros((2, 3))})
    assert arrays_sha256(a) != arrays_sha256({"x": np.zeros((3, 2))})
    assert arrays_sha256(a) != arrays_sha256({"x": np.zeros((2, 3), np.float32)})


def test_tracking_hash_pins_the_weights_file(tmp_path: Path) -> None:
    assert tracker_weights_sha256("flow", {}) is None
    one, other = tmp_path / "one.pt", tmp_path / "other.pt"
    one.write_bytes(b"weights one")
    other.write_bytes(b"weights two")
    params = {"sam2_model": "sam2.1_hiera_tiny"}  # unpinned upstream: any file is accepted
    assert (tracker_weights_sha256("sam2", params, one)
            != tracker_weights_sha256("sam2", params, other))
    assert entry_key("a", "b") != entry_key("b", "a")


def test_memory_cache_keeps_the_most_recently_used_entries() -> None:
    cache = MemoryTrackCache(capacity=2)
    tracks = [ObjectTracks(None, np.full((1, 2), float(k)), np.zeros(2), np.ones(2), np.ones(2))
              for k in range(3)]
    cache.put("a", "h", tracks[0])
    cache.put("b", "h", tracks[1])
    assert cache.get("a", "h") is not None  # "a" is now the most recent
    cache.put("c", "h", tracks[2])
    assert cache.get("b", "h") is None and cache.get("x", "h") is None
    np.testing.assert_array_equal(cache.get("c", "h").object_displacement, [[2.0, 2.0]])
    assert pickle.loads(pickle.dumps(cache)).get("c", "h") is None  # copies start empty


def test_the_metrics_of_one_video_hash_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[int] = []
    real = object_metrics.array_sha256

    def counting(array: np.ndarray) -> str:
        hashed.append(array.size)
        return real(array)

    monkeypatch.setattr(object_metrics, "array_sha256", counting)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (3, 32, 32, 3), np.uint8)
    masks = np.zeros((1, 32, 32), bool)
    masks[0, 8:20, 8:20] = True
    item = EvalItem("s", "all", video, 8.0, masks=masks)
    for name in GROUPS["objects"][:4]:
        create_metric(name, track_cache=TrackCache(None)).score(item)
    assert sorted(hashed) == sorted([video.size, masks.size])  # video and masks, once each
    copy = EvalItem("s", "all", video.copy(), 8.0, masks=masks)
    create_metric("ad_object", track_cache=TrackCache(None)).score(copy)
    assert len(hashed) == 4  # a new array is hashed again
