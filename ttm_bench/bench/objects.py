"""Object-metric known answers and speed (a script): `python -m ttm_bench.bench.objects`.

Renders the synthetic benchmark's scenes in memory (exact masks and flow; see
`data/synthetic_scene.py`), with its opt-in split `one-moves`, and runs the object metrics with
the chosen tracker (default `flow`) on videos whose answers are known. Prints, per split, the
mean and worst case of:

- ground truth: ad_object's relative error against the exact mean displacement of the objects'
  visible pixels (and against the centre displacement `object_displacement_px`), and
  trajectory_miou against the exact masklets;
- static (the first frame repeated): ad_object and ad_background (exact: 0), persistence
  (exact: 1) and how many motion_locality values are undefined (exact: all);
- ken-burns (the floor model, seed 0): |motion_locality − the objects' area share|;
- one object erased halfway (scenes of two or more objects): |persistence − its exact value on
  the exact masks of the edited video|;
- split one-moves (two objects, one of them still): the still object's tracked displacement and
  the moving one's relative error, on the ground truth;
- seconds per video of the tracking (all five metrics share one tracking run).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from ttm_bench.data.synthetic import SyntheticConfig, sample_plan
from ttm_bench.data.synthetic_edits import erase_object, exact_object_displacement
from ttm_bench.data.synthetic_scene import render_scene
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.objects import tracks as reductions
from ttm_bench.metrics.objects.metrics import ObjectMetric
from ttm_bench.metrics.registry import create_metric

BAND = (0.5, 2.0)


def ken_burns(frames: np.ndarray, seed: int) -> np.ndarray:
    from baselines.floors import KenBurnsModel
    from ttm_bench.generation.model import GenerationRequest

    model = KenBurnsModel()
    model.load(model.default_config, "cpu")
    t, h, w = frames.shape[:3]
    return model.generate(GenerationRequest("bench", frames[0], "", t, 8.0, h, w, seed))


def run(samples: int, one_moves: int, tracker: str) -> dict[str, dict[str, list[float]]]:
    metric: ObjectMetric = create_metric("ad_object", tracker=tracker)  # type: ignore[assignment]
    metric.setup("cpu")
    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

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
        ad_object = reductions.mean_object_displacement(truth)
        exact_per_object = scale * np.nanmean(exact_object_displacement(render), axis=1)
        exact = float(exact_per_object.mean())
        centre = scale * float(render.object_displacement.mean())
        out["GT ad_object rel. error vs exact pixels"].append(ad_object / exact - 1)
        out["GT ad_object rel. error vs centre"].append(ad_object / centre - 1)
        targets = reductions.resize_masks(render.masks, truth.masks.shape[2:]) >= 0.5
        out["GT trajectory_miou"].append(reductions.mean_iou(truth.masks, targets))
        if split == "one-moves":
            moving, still = np.nanmean(truth.object_displacement, axis=1)
            out["GT still object's ad (px)"].append(float(still))
            out["GT moving object rel. error"].append(moving / exact_per_object[0] - 1)

        static = track(np.repeat(render.frames[:1], len(render.frames), 0), first, "static")
        out["static ad_object"].append(reductions.mean_object_displacement(static))
        out["static ad_background"].append(reductions.mean_background_displacement(static))
        out["static persistence"].append(reductions.persistence(static.masks, BAND))
        out["static locality undefined"].append(
            float(np.isnan(reductions.motion_locality(static, 0.05))))

        pan = track(ken_burns(render.frames, 0), first, "ken-burns")
        share = float(first.any(axis=0).mean())
        out["ken-burns |locality - area share|"].append(
            abs(reductions.motion_locality(pan, 0.05) - share))

        if len(spec.objects) < 2:
            continue
        half = len(render.frames) // 2
        video, exact_masks = erase_object(spec, 0, half)
        erased = track(video, first, "erased")
        out["erased |persistence - exact|"].append(abs(
            reductions.persistence(erased.masks, BAND)
            - reductions.persistence(exact_masks, BAND)))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16, help="synthetic scenes (half multi)")
    parser.add_argument("--one-moves", type=int, default=8, help="scenes of split one-moves")
    parser.add_argument("--tracker", default="flow", choices=("flow", "sam2"),
                        help="a tracker that gives masks (weights: see docs/metrics.md)")
    args = parser.parse_args(argv)
    for split, rows in run(args.samples, args.one_moves, args.tracker).items():
        print(f"\n{split} ({len(rows['seconds per video'])} scenes), tracker {args.tracker}")
        print(f"  {'figure':<44s} {'mean':>9s} {'worst':>9s}")
        for name, values in rows.items():
            array = np.asarray(values, dtype=np.float64)
            worst = array[np.argmax(np.abs(array))] if "miou" not in name else array.min()
            print(f"  {name:<44s} {array.mean():9.3f} {worst:9.3f}")


if __name__ == "__main__":
    main()
