"""Object-level motion metrics: does each object move, stay itself, follow its trajectory.

Every metric here tracks the benchmark's first-frame masks s(0) through the generated video
with the preset's tracker (`flow` by default: DIS optical flow, no weights; `sam2`;
`cotracker`), at the AD evaluation size (shorter side 256, bilinear), then reduces the tracks
(see `tracks.py` for each formula):

- `ad_object`: mean displacement of object pixels per frame pair, averaged over objects (px);
- `ad_background`: the same outside every object (px);
- `motion_locality`: the share of the video's total displacement inside the objects; NaN for a
  static video, counted in a warning rather than dropped silently;
- `object_persistence`: fraction of (object, frame) pairs with tracked area within
  [`band_low`, `band_high`] × the object's frame-0 area;
- `trajectory_miou`: mean IoU of tracked masks and the benchmark's per-frame masklets, or the
  run's own trajectory (the masks a two-stage model generated the video from).

The metrics of one video share one tracking run (an in-process memo keyed by the video, masks
and tracking preset), and tracks are kept on disk (`track_cache`), so evaluating all five
costs one tracking per video, and re-evaluating it none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, PerSampleMetric, Preset, pop_own_params
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.motion import AverageDisplacement
from ttm_bench.metrics.objects import tracks as reductions
from ttm_bench.metrics.objects.track_cache import (
    MemoryTrackCache,
    TrackCache,
    binarised,
    entry_key,
)
from ttm_bench.metrics.objects.tracker import (
    POINT_TRACKERS,
    TRACKERS,
    Checkpoint,
    ObjectTracker,
    build_tracker,
    tracker_weights_sha256,
)
from ttm_bench.metrics.objects.tracks import ObjectTracks, resize_masks
from ttm_bench.metrics.video_input import check_clip

#: The last tracking run: ((entry key, tracking hash), tracks). The evaluation feeds one video
#: to every metric in turn.
_last_tracking: tuple[tuple[str, str], ObjectTracks] | None = None
#: The last (video, masks) hashed and their entry key: the evaluation hands the same arrays to
#: every object metric in turn, so each video is hashed once (the arrays are kept alive here,
#: so their identity cannot be reused by other arrays).
_last_hashed: tuple[np.ndarray, np.ndarray, str] | None = None


def _entry_key(video: np.ndarray, masks: np.ndarray) -> str:
    """`track_cache.entry_key` of the arrays' contents, hashed once for the same objects."""
    global _last_hashed
    if _last_hashed is None or _last_hashed[0] is not video or _last_hashed[1] is not masks:
        _last_hashed = (video, masks, entry_key(array_sha256(video), array_sha256(masks)))
    return _last_hashed[2]


class ObjectMetric(PerSampleMetric):
    """Base: tracks s(0) with the preset's tracker; subclasses reduce the tracks to a number."""

    higher_is_better = None
    requires: ClassVar[frozenset[str]] = frozenset({"masks"})
    #: 2: the `flow` tracker tracks layers (occlusion, revealed parts, vanishing) and takes
    #: edge displacements from fitted motions; persistence reads carried masks. 3: it also
    #: uses colour models of the objects (revealed parts, edges).
    preset_version: ClassVar[str] = "3"
    #: Parameters that pin the tracking (shared by every object metric): AD's evaluation size,
    #: resizing and DIS preset, so object and whole-frame displacements are comparable.
    tracking_params: ClassVar[Mapping[str, Any]] = {
        "tracker": "flow",
        **{key: AverageDisplacement.default_params[key]
           for key in ("eval_short_side", "resize", "dis_preset")},
    }
    #: Parameters only one tracker reads; they enter the preset of that tracker only.
    tracker_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "sam2": {"sam2_model": "sam2.1_hiera_tiny", "sam2_image_size": 1024},
        "cotracker": {"points_per_object": 100, "background_grid": 20},
    }
    metric_params: ClassVar[Mapping[str, Any]] = {}
    #: Whether the metric reads tracked masks (point trackers give none).
    needs_masks: ClassVar[bool] = False

    def __init__(self, *, checkpoint: Checkpoint = None, model: ObjectTracker | None = None,
                 track_cache: TrackCache | MemoryTrackCache | None = None,
                 **params: Any) -> None:
        """checkpoint: where a model tracker's weights are; model: a ready tracker (tests use
        random-weight ones), used as is and never cached on disk (the preset does not describe
        it); track_cache: where tracks are kept (default `$TTM_BENCH_CACHE/object_tracks`; a
        `MemoryTrackCache` keeps them off disk). None of them is part of the preset."""
        self._checkpoint = checkpoint
        self._tracker = model
        self._injected = model is not None
        self.track_cache = track_cache or TrackCache.default()
        tracker = params.get("tracker", self.tracking_params["tracker"])
        if tracker not in TRACKERS:
            raise TTMBenchError(f"object tracker {tracker!r} unknown; known: {sorted(TRACKERS)}")
        if self.needs_masks and tracker in POINT_TRACKERS:
            raise TTMBenchError(f"metric {self.name!r} needs tracked masks; the {tracker!r} "
                                "tracker gives points only: use tracker=flow or tracker=sam2")
        own = pop_own_params(params, self.tracker_params.get(tracker, {}))
        super().__init__(**params)
        self.preset = self.preset.extended(own)
        #: Identifies the tracking in cache keys: the tracking preset and the weights' sha256
        #: (set by `setup`), or, for a tracker handed over, that object (never cached on disk).
        self._tracking_hash = (f"model={id(model)}:{self._tracking_preset(None).hash}"
                               if self._injected else "")

    def _tracking_preset(self, weights_sha256: str | None) -> Preset:
        """The parameters that pin the tracks (the preset's, less the metric's own)."""
        tracking = {k: v for k, v in self.params.items() if k not in self.metric_params}
        return Preset("object-tracks", {**tracking, "weights_sha256": weights_sha256},
                      self.preset_version)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.default_params = {**cls.tracking_params, **cls.metric_params}

    def setup(self, device: str) -> None:
        """Build the tracker (loading its weights), so a missing one fails before decoding, and
        pin the tracks' cache key: the preset's tracking parameters and the weights' sha256."""
        if self._injected:
            return
        name = self.params["tracker"]
        self._tracker = build_tracker(name, self.params, device, self._checkpoint)
        self._tracking_hash = self._tracking_preset(
            tracker_weights_sha256(name, self.params, self._checkpoint)).hash

    def __getstate__(self) -> dict[str, Any]:
        """Without a tracker it built: a process that receives the metric calls `setup`."""
        return {**self.__dict__, "_tracker": self._tracker if self._injected else None}

    def tracks(self, item: EvalItem) -> ObjectTracks:
        """The tracks of `item`'s s(0) masks (masks binarised, `track_cache.binarised`), shared
        with the other object metrics: from the last video's tracking in this process, from the
        disk cache, or tracked now and cached."""
        global _last_tracking
        from ttm_bench.video import resize_short_side

        if item.masks is None or len(item.masks) == 0:
            raise TTMBenchError(f"sample {item.sample_id!r} has no first-frame object masks; "
                                f"metric {self.name!r} needs a benchmark whose samples list "
                                "objects with masks")
        check_clip(item.video, f"video {item.sample_id!r}", min_frames=2)
        if item.masks.shape[1:] != item.video.shape[1:3]:
            raise TTMBenchError(f"sample {item.sample_id!r}: masks are {item.masks.shape[1:]} "
                                f"but the video is {item.video.shape[1:3]}; regenerate the "
                                "video at the benchmark's size")
        if self._tracker is None:
            self.setup("cpu")
        key = _entry_key(item.video, item.masks)
        if _last_tracking is not None and _last_tracking[0] == (key, self._tracking_hash):
            return _last_tracking[1]
        cache = TrackCache(None) if self._injected else self.track_cache
        result = cache.get(key, self._tracking_hash)
        if result is None:
            video = resize_short_side(item.video, self.params["eval_short_side"],
                                      method=self.params["resize"])
            first = resize_masks(item.masks, video.shape[1:3])
            result = binarised(self._tracker.track(video, first))
            cache.put(key, self._tracking_hash, result)
        _last_tracking = ((key, self._tracking_hash), result)
        return result


class ObjectDisplacement(ObjectMetric):
    """ad_object: mean displacement of the objects' pixels per frame pair (px at short side
    256), averaged over objects."""

    name = "ad_object"

    def score(self, item: EvalItem) -> float:
        return reductions.mean_object_displacement(self.tracks(item))


class BackgroundDisplacement(ObjectMetric):
    """ad_background: mean displacement outside every object (px at short side 256)."""

    name = "ad_background"

    def score(self, item: EvalItem) -> float:
        return reductions.mean_background_displacement(self.tracks(item))


class MotionLocality(ObjectMetric):
    """The share of a video's motion inside its objects; NaN (counted, warned) when static."""

    name = "motion_locality"
    metric_params: ClassVar[Mapping[str, Any]] = {"static_px": 0.05}
    undefined_when = "static videos (mean displacement below {static_px} px/frame)"

    def score(self, item: EvalItem) -> float:
        return reductions.motion_locality(self.tracks(item), self.params["static_px"])


class ObjectPersistence(ObjectMetric):
    """Fraction of (object, frame) pairs whose tracked area stays within the band of its
    frame-0 area: catches objects that vanish, melt or grow."""

    name = "object_persistence"
    higher_is_better = True
    metric_params: ClassVar[Mapping[str, Any]] = {"band_low": 0.5, "band_high": 2.0}

    needs_masks = True

    def score(self, item: EvalItem) -> float:
        return reductions.persistence(self.tracks(item).presence,
                                      (self.params["band_low"], self.params["band_high"]))


class TrajectoryIoU(ObjectMetric):
    """Mean IoU between the tracked masks and a target, per object and frame: the benchmark's
    masklets or the run's own trajectory (`target`). `auto` takes the masklets when the
    benchmark has them (one target for every run, so columns compare), else the run's
    trajectory; the evaluation settles it once per run (`choose_inputs`) and the preset and
    the label record the target used."""

    name = "trajectory_miou"
    higher_is_better = True
    metric_params: ClassVar[Mapping[str, Any]] = {"target": "auto"}
    #: target → what the leaderboard's label adds.
    targets: ClassVar[Mapping[str, str]] = {"masklets": "masklets",
                                            "trajectory": "own trajectory"}

    needs_masks = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["target"] not in ("auto", *self.targets):
            raise TTMBenchError(f"metric {self.name!r}: target {self.params['target']!r} "
                                f"unknown; use one of {['auto', *self.targets]}")

    @property
    def requires(self) -> frozenset[str]:  # the target's field: a property, not a constant
        target = self.params["target"]
        return frozenset({"masks"} | ({target} if target in self.targets else set()))

    def choose_inputs(self, available: frozenset[str]) -> None:
        target = self.params["target"]
        if target == "auto":
            target = ("trajectory" if "trajectory" in available and "masklets" not in available
                      else "masklets")
            self.preset = self.preset.extended({"target": target})
        self.label = f"{self.label} ({self.targets[target]})"

    def score(self, item: EvalItem) -> float:
        target = self.params["target"]
        if target not in self.targets:
            raise TTMBenchError(f"metric {self.name!r}: target 'auto' is settled by the "
                                "evaluation from what its inputs provide; to score items "
                                f"directly pass target= one of {list(self.targets)}")
        tracks = self.tracks(item)
        masks = getattr(item, target)
        if masks is None or masks.shape[:2] != tracks.masks.shape[:2]:
            got = None if masks is None else masks.shape[:2]
            raise TTMBenchError(f"sample {item.sample_id!r}: {target} are (frames, objects) "
                                f"{got}, the tracks {tracks.masks.shape[:2]}; the {target} "
                                "must have one mask per object per video frame")
        targets = resize_masks(masks, tracks.masks.shape[2:]) >= 0.5
        return reductions.mean_iou(tracks.masks, targets)
