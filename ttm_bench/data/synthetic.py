"""The shipped synthetic benchmark: procedural scenes with exact ground-truth motion.

Each sample is a textured background with 1 (split `single`) or 2–3 (split `multi`) textured
objects moving along known trajectories (see `synthetic_scene`). An opt-in split, `one-moves`
(`SyntheticConfig.one_moves`), adds scenes of two objects that never overlap, where only object
0 moves and object 1 stands still: a known answer for the object-level metrics, which must tell
the two apart. Written per sample:
`images/<id>.png` (x(0)), `videos/<id>.mp4` (the clip, encoded losslessly so metrics see the
exact pixels), `masklets/<id>.json` (per-frame, per-object visible masks as COCO RLE) and
`trajectories/<id>.mp4` (the colour-coded mask video TTM conditions on, lossless). `meta` holds
the exact motion: `true_mean_flow_px` (mean optical-flow magnitude over all pixels and frame
pairs, in pixels at the benchmark's resolution) and `object_displacement_px` (per object, per
frame pair). Everything is a function of `SyntheticConfig`: same config, same bytes, same hash.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ttm_bench.atomic import atomic_path, write_text
from ttm_bench.data.benchmark import Benchmark, write_benchmark
from ttm_bench.data.masklets import masklets_to_json
from ttm_bench.data.masks import encode_rle, labels_from_masks, render_mask_video
from ttm_bench.data.sample import BenchmarkInfo, ObjectSpec, Sample
from ttm_bench.data.staging import staged_directory
from ttm_bench.data.synthetic_scene import (
    SceneSpec,
    describe_scene,
    render_scene,
    sample_one_moves_spec,
    sample_scene_spec,
)
from ttm_bench.errors import TTMBenchError

#: Bump when the generator's output changes, so old results are not mixed with new ones.
GENERATOR_VERSION = "1"

SPLITS = ("single", "multi", "one-moves")
#: Third seed word of the `one-moves` scenes' random streams. It must not be 0: numpy pads a
#: short seed with zeros, so [seed, j, 0] would be the stream of the default sample j.
_ONE_MOVES_STREAM = 1


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic build.

    samples: scenes of the splits `single` and `multi`, half (rounded up) single-object.
    one_moves: scenes of the opt-in split `one-moves`, after those (0: no such split, and the
    build is byte-identical to one made before the split existed).
    """

    samples: int = 16
    seed: int = 0
    frames: int = 16
    height: int = 128
    width: int = 128
    fps: float = 8.0
    one_moves: int = 0

    def check(self) -> None:
        if self.samples < 0:
            raise TTMBenchError(f"--samples {self.samples} is negative; use 0 or more")
        if self.one_moves < 0:
            raise TTMBenchError(f"--one-moves {self.one_moves} is negative; use 0 or more")
        if self.samples + self.one_moves < 1:
            raise TTMBenchError("--samples must be at least 1 (or --one-moves, for a benchmark "
                                "of that split alone)")
        if self.frames < 2:
            raise TTMBenchError("--frames must be at least 2 (motion needs two frames)")
        if self.height < 32 or self.width < 32 or self.height % 2 or self.width % 2:
            raise TTMBenchError("--size must be even and at least 32x32 (H.264 needs even sizes)")
        if not math.isfinite(self.fps) or self.fps <= 0:
            raise TTMBenchError("--fps must be a finite positive number")


def sample_plan(config: SyntheticConfig) -> list[tuple[str, str, SceneSpec]]:
    """(sample id, split, scene spec) for every sample, from the config alone."""
    n_single = (config.samples + 1) // 2
    plan = []
    for i in range(config.samples):
        rng = np.random.default_rng([config.seed, i])
        split = "single" if i < n_single else "multi"
        num_objects = 1 if split == "single" else int(rng.integers(2, 4))
        spec = sample_scene_spec(rng, num_objects, config.height, config.width, config.frames)
        plan.append((f"syn-{i:03d}", split, spec))
    for j in range(config.one_moves):
        rng = np.random.default_rng([config.seed, j, _ONE_MOVES_STREAM])
        spec = sample_one_moves_spec(rng, config.height, config.width, config.frames)
        plan.append((f"syn-one-moves-{j:03d}", "one-moves", spec))
    return plan


def _write_sample(root: Path, sample_id: str, split: str, spec: SceneSpec, fps: float) -> Sample:
    from ttm_bench.video import write_video

    scene = render_scene(spec)
    caption, motion_prompt, local_prompts, labels = describe_scene(spec)
    image = f"images/{sample_id}.png"
    video = f"videos/{sample_id}.mp4"
    masklets = f"masklets/{sample_id}.json"
    trajectory = f"trajectories/{sample_id}.mp4"
    with atomic_path(root / image) as tmp:
        Image.fromarray(scene.frames[0]).save(tmp, format="PNG")
    write_video(root / video, scene.frames, fps=fps, lossless=True)
    object_ids = range(1, len(labels) + 1)
    write_text(root / masklets, json.dumps(masklets_to_json(scene.masks, object_ids)) + "\n")
    write_video(root / trajectory, render_mask_video(labels_from_masks(scene.masks)), fps=fps,
                lossless=True)
    objects = []
    for k, (label, local) in enumerate(zip(labels, local_prompts, strict=True)):
        first = scene.masks[0, k]
        if not first.any():
            raise TTMBenchError(f"internal: object {k} of {sample_id} is invisible in frame 0")
        objects.append(ObjectSpec(k + 1, label, local, encode_rle(first)))
    meta = {
        "true_mean_flow_px": float(scene.mean_flow_magnitude),
        "object_displacement_px": np.round(scene.object_displacement, 6).tolist(),
        "masklets": masklets,
        "trajectory_video": trajectory,
        "scene": json.loads(json.dumps(asdict(spec))),
        "generator_version": GENERATOR_VERSION,
    }
    return Sample(sample_id, image, caption, split, tuple(objects), motion_prompt, video, meta)


def build_synthetic(out: str | Path, config: SyntheticConfig | None = None,
                    *, progress: bool = True) -> Benchmark:
    """Build the benchmark into `out`, which must not exist or be empty.

    Written into a hidden sibling directory first and renamed into place, so an interrupted
    build leaves no half-built benchmark behind.
    """
    config = config or SyntheticConfig()
    config.check()
    out = Path(out)
    with staged_directory(out) as staging:
        plan = sample_plan(config)
        samples = [_write_sample(staging, sid, split, spec, config.fps)
                   for sid, split, spec in tqdm(plan, desc="build synthetic", unit="sample",
                                                disable=not progress)]
        splits = tuple(s for s in SPLITS if any(x.split == s for x in samples))
        info = BenchmarkInfo(
            name="synthetic", version=GENERATOR_VERSION, splits=splits, fps=config.fps,
            num_frames=config.frames, height=config.height, width=config.width,
            licence="CC0-1.0 (procedurally generated by ttm-bench)",
            description=_description(config),
        )
        write_benchmark(staging, info, samples)
    return Benchmark.load(out)


def _description(config: SyntheticConfig) -> str:
    """benchmark.json's `description`: the config, without `one_moves` when it is 0, so that
    builds without the opt-in split keep the bytes (and the hash) they had before it existed."""
    fields = asdict(config)
    if not config.one_moves:
        del fields["one_moves"]
    return f"ttm-bench synthetic scenes, config {fields}"
