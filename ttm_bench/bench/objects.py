"""Object-metric known answers and speed (a script): `python -m ttm_bench.bench.objects`.

Renders the synthetic benchmark's scenes in memory (exact masks and flow; see
`data/synthetic_scene.py`), with its opt-in split `one-moves`, and runs the object metrics with
the chosen tracker (default `flow`) on videos whose answers are known. Prints, per split, the
mean and worst case of:

- ground truth: ad_object's relative error against the exact mean displacement of the objects'
  visible pixels (and against the centre displacement `object_displacement_px`);
  trajectory_miou against the exact masklets, and again with the masklets' parts that frame 0
  does not show (hidden behind another object then; no tracker prompted with s(0) can know
  them until they come into view) as void, with the share of masklet pixels they make up;
  persistence (exact: 1, nothing vanishes);
- static (the first frame repeated): ad_object and ad_background (exact: 0), persistence
  (exact: 1) and how many motion_locality values are undefined (exact: all);
- ken-burns (the floor model, seed 0): |motion_locality − the objects' area share|;
- one object erased halfway (scenes of two or more objects): |persistence − its exact value on
  the exact whole (amodal) masks of the edited video: a hidden object is still there|;
- split one-moves (two objects, one of them still): the still object's tracked displacement and
  the moving one's relative error, on the ground truth;
- seconds per video of the tracking (all five metrics share one tracking run), and of reading
  the tracks back from the disk cache instead (hashing the video and masks, loading, checking
  and unpacking the entry: what a re-evaluation pays).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ttm_bench.data.synthetic import SyntheticConfig, sample_plan
from ttm_bench.data.synthetic_edits import (
    amodal_masks,
    erase_object,
    exact_object_displacement,
    hidden_in_first_frame,
)
from ttm_bench.data.synthetic_scene import render_scene
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.objects import tracks as reductions
from ttm_bench.metrics.objects.metrics import MotionLocality, ObjectMetric, ObjectPersistence
from ttm_bench.metrics.objects.track_cache import TrackCache, entry_key
from ttm_bench.metrics.registry import create_metric

#: The presets' defaults: object_persistence's band and motion_locality's static threshold.
BAND = (ObjectPersistence.default_params["band_low"], ObjectPersistence.default_params["band_high"])
STATIC_PX = MotionLocality.default_params["static_px"]
#: Rows whose worst case is the smallest value (the others': the largest in magnitude).
HIGHER_IS_BETTER = frozenset({"GT trajectory_miou", "GT trajectory_miou, parts hidden at 0 void",
                              "GT persistence (exact 1)", "static persistence"})


def ken_burns(frames: np.ndarray, seed: int) -> np.ndarray:
    from baselines.floors import KenBurnsModel
    from ttm_bench.generation.model import GenerationRequest

    model = KenBurnsModel()
    model.load(model.default_config, "cpu")
    t, h, w = frames.shape[:3]
    return model.generate(GenerationRequest("bench", frames[0], "", t, 8.0, h, w, seed))


def cached_read_seconds(cache: TrackCache, video: np.ndarray, masks: np.ndarray,
                        tracks: reductions.ObjectTracks) -> float:
    """Seconds to find `tracks` again in `cache` from the video and masks."""
    cache.put(entry_key(array_sha256(video), array_sha256(masks)), "bench", tracks)
    start = time.perf_counter()
    found = cache.get(entry_key(array_sha256(video), array_sha256(masks)), "bench")
    seconds = time.perf_counter() - start
    assert found is not None
    return seconds


def run(samples: int, one_moves: int, tracker: str
        ) -> tuple[dict[str, dict[str, list[float]]], str]:
    """(figures by split and row, the preset line of the `ad_object` preset that tracked)."""
    metric: ObjectMetric = create_metric(  # type: ignore[assignment]
        "ad_object", tracker=tracker, track_cache=TrackCache(None))  # time the tracking itself
    metric.setup("cpu")
    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    folder = tempfile.TemporaryDirectory(prefix="ttm-bench-tracks-")
    cache = TrackCache(Path(folder.name))

    def track(video: np.ndarray, masks: np.ndarray, name: str) -> reductions.ObjectTracks:
        return metric.tracks(EvalItem(name, "bench", video, 8.0, masks=masks))

    for sample_id, split, spec in sample_plan(SyntheticConfig(samples=samples,
                                                              one_moves=one_moves)):
        out = figures[split]
        render = render_scene(spec)
        first = render.masks[0]
        scale = 256 / min(spec.height, spec.width)
        start = time.perf_counter()
        truth = track(render.frames, first, sample_id)
        out["seconds per video"].append(time.perf_counter() - start)
        out["seconds per video from the track cache"].append(
            cached_read_seconds(cache, render.frames, first, truth))
        ad_object = reductions.mean_object_displacement(truth)
        exact_per_object = scale * np.nanmean(exact_object_displacement(render), axis=1)
        exact = float(exact_per_object.mean())
        centre = scale * float(render.object_displacement.mean())
        out["GT ad_object rel. error vs exact pixels"].append(ad_object / exact - 1)
        out["GT ad_object rel. error vs centre"].append(ad_object / centre - 1)
        size = truth.masks.shape[2:]
        targets = reductions.resize_masks(render.masks, size) >= 0.5
        out["GT trajectory_miou"].append(reductions.mean_iou(truth.masks, targets))
        hidden = hidden_in_first_frame(spec, render)
        void = reductions.resize_masks(hidden, size) >= 0.5
        out["GT trajectory_miou, parts hidden at 0 void"].append(
            reductions.mean_iou(truth.masks, targets, void))
        out["GT masklet share hidden at frame 0"].append(
            float(hidden[1:].sum() / max(1, render.masks[1:].sum())))
        out["GT persistence (exact 1)"].append(reductions.persistence(truth.presence, BAND))
        if split == "one-moves":
            moving, still = np.nanmean(truth.object_displacement, axis=1)
            out["GT still object's ad (px)"].append(float(still))
            out["GT moving object rel. error"].append(moving / exact_per_object[0] - 1)

        static = track(np.repeat(render.frames[:1], len(render.frames), 0), first, "static")
        out["static ad_object"].append(reductions.mean_object_displacement(static))
        out["static ad_background"].append(reductions.mean_background_displacement(static))
        out["static persistence"].append(reductions.persistence(static.presence, BAND))
        out["static locality undefined"].append(
            float(np.isnan(reductions.motion_locality(static, STATIC_PX))))

        pan = track(ken_burns(render.frames, 0), first, "ken-burns")
        share = float(first.any(axis=0).mean())
        out["ken-burns |locality - area share|"].append(
            abs(reductions.motion_locality(pan, STATIC_PX) - share))

        if len(spec.objects) < 2:
            continue
        half = len(render.frames) // 2
        video, _ = erase_object(spec, 0, half)
        whole = amodal_masks(spec)
        whole[half:, 0] = False
        erased = track(video, first, "erased")
        out["erased |persistence - exact|"].append(abs(
            reductions.persistence(erased.presence, BAND) - reductions.persistence(whole, BAND)))
    folder.cleanup()
    return figures, f"ad_object preset {metric.preset.hash} (version {metric.preset.version})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16, help="synthetic scenes (half multi)")
    parser.add_argument("--one-moves", type=int, default=8, help="scenes of split one-moves")
    parser.add_argument("--tracker", default="flow", choices=("flow", "sam2"),
                        help="a tracker that gives masks (weights: see docs/metrics.md)")
    args = parser.parse_args(argv)
    figures, preset = run(args.samples, args.one_moves, args.tracker)
    print(f"tracks and reductions of {preset}; persistence band {BAND}, locality static_px "
          f"{STATIC_PX} (the presets' defaults)")
    for split, rows in figures.items():
        print(f"\n{split} ({len(rows['seconds per video'])} scenes), tracker {args.tracker}")
        print(f"  {'figure':<46s} {'mean':>9s} {'worst':>9s}")
        for name, values in rows.items():
            array = np.asarray(values, dtype=np.float64)
            worst = array.min() if name in HIGHER_IS_BETTER else array[np.argmax(np.abs(array))]
            print(f"  {name:<46s} {array.mean():9.3f} {worst:9.3f}")


if __name__ == "__main__":
    main()
