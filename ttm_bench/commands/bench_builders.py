"""`ttm-bench bench build sav128|animation-bench` and `ttm-bench bench import`.

The `bench` group itself lives in `bench.py`: its `BUILDERS` table names `add_sav128` and
`add_animation_bench` (each adds its parser under `bench build`), and it calls `add_import`
with the sub-parsers of `bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ttm_bench.commands.arg_types import fraction, positive_number
from ttm_bench.errors import TTMBenchError, UnknownNameError

if TYPE_CHECKING:
    from ttm_bench.data.benchmark import Benchmark
    from ttm_bench.data.sav.scoring import PairwiseMotionScorer

ConfigT = TypeVar("ConfigT", bound=Any)
DEFAULT_VLM_URL = "http://127.0.0.1:8000/v1"
DEFAULT_VLM_MODEL = "meta-llama/Llama-3.2-11B-Vision-Instruct"


def parse_size(text: str) -> tuple[int, int]:
    """`HxW` (e.g. `512x512`) → (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} must be HEIGHTxWIDTH, e.g. 512x512") from None
    if height < 2 or width < 2 or height % 2 or width % 2:
        raise argparse.ArgumentTypeError(f"size {text!r}: use even sides >= 2 (H.264 4:2:0)")
    return height, width


def add_sav128(build: argparse._SubParsersAction) -> None:
    """Add `sav128` to the `bench build` sub-parsers."""
    sav = build.add_parser("sav128", help="build SA-V-128 from the SA-V training set",
                           description="Build SA-V-128 by the Through-The-Mask protocol "
                                       "(docs/benchmarks.md). Rerun the same command to resume.")
    sav.add_argument("--sav-root", type=Path, required=True, help="extracted SA-V training set")
    sav.add_argument("--out", type=Path, required=True, help="benchmark directory to write")
    sav.add_argument("--work", type=Path, help="stage caches (default: <out>.build)")
    sav.add_argument("--seed", type=int, default=0, help="seed of the 64+64 draw (default 0)")
    sav.add_argument("--keep", type=int, default=500, help="videos kept by the category loop")
    sav.add_argument("--n-single", type=int, default=64, help="single-object videos drawn")
    sav.add_argument("--n-multi", type=int, default=64, help="multi-object videos drawn")
    sav.add_argument("--num-frames", type=int, default=128, help="clip length (24 fps)")
    sav.add_argument("--size", type=parse_size, default=(512, 512), help="clip HxW (512x512)")
    sav.add_argument("--min-area", dest="min_area_fraction", type=fraction, default=0.01,
                     metavar="FRACTION",
                     help="minimum first-frame mask area as a fraction of the frame (0.01)")
    sav.add_argument("--max-candidates", type=int,
                     help="caption and score only a seeded subsample of this many videos")
    vlm = sav.add_argument_group("vision-language model")
    vlm.add_argument("--vlm-backend", choices=("openai", "transformers"), default="openai")
    vlm.add_argument("--vlm-url", default=DEFAULT_VLM_URL, help="OpenAI-compatible base URL")
    vlm.add_argument("--vlm-model", default=DEFAULT_VLM_MODEL, help="model name on the server")
    vlm.add_argument("--vlm-checkpoint", type=Path, help="transformers model directory")
    scores = sav.add_argument_group("scorers (weights from the registry, `ttm-bench weights "
                                    "fetch`; a path overrides it)")
    scores.add_argument("--clip-checkpoint", type=Path, help="clip_vit_l14_openai file")
    scores.add_argument("--aesthetic-checkpoint", type=Path,
                        help="laion_aesthetic_l14_linear_mse file")
    scores.add_argument("--motion-backend", default="raft",
                        help="AD backend of the motion score: raft (the paper's), dis or "
                             "cotracker (default raft)")
    scores.add_argument("--motion-checkpoint", type=Path, help="weights of the motion backend")
    sav.add_argument("--device", default="cpu", help="torch device of the scorers and VLM")
    sav.set_defaults(func=run_sav128)


def add_animation_bench(build: argparse._SubParsersAction) -> None:
    """Add `animation-bench` to the `bench build` sub-parsers."""
    anim = build.add_parser("animation-bench", help="build Image-Animation-Bench from I2V-Bench",
                            description="Load ConsistI2V's I2V-Bench as Image-Animation-Bench "
                                        "(docs/benchmarks.md).")
    anim.add_argument("--root", type=Path, required=True, help="extracted I2V-Bench download")
    anim.add_argument("--out", type=Path, required=True)
    anim.add_argument("--table", type=Path, help="metadata table (default: the one in --root)")
    for role in ("video", "caption", "category", "id"):
        anim.add_argument(f"--{role}-column", help=f"table column holding the {role}")
    anim.add_argument("--num-frames", type=int, default=16)
    anim.add_argument("--fps", type=positive_number, default=8.0)
    anim.add_argument("--size", type=parse_size, default=(256, 256))
    anim.add_argument("--subset", choices=("all", "human-study"), default="all")
    anim.add_argument("--human-study-size", type=int, default=128)
    anim.add_argument("--seed", type=int, default=0)
    anim.set_defaults(func=run_animation_bench)


def add_import(bench: argparse._SubParsersAction) -> None:
    """Add `import` to the `bench` sub-parsers."""
    imp = bench.add_parser("import", help="import a folder of clips and a table",
                           description="Bring clips + a CSV/JSON/JSONL table (columns: id, "
                                       "caption, split; optional video, image, motion_prompt, "
                                       "masks) into the benchmark contract.")
    imp.add_argument("--clips", type=Path, required=True, help="folder holding the clips")
    imp.add_argument("--table", type=Path, required=True)
    imp.add_argument("--out", type=Path, required=True)
    imp.add_argument("--name", required=True, help="benchmark name")
    imp.add_argument("--version", default="1")
    imp.add_argument("--licence", default="unknown", help="licence of the clips")
    imp.add_argument("--description", default="")
    imp.add_argument("--num-frames", type=int, help="default: the shortest clip")
    imp.add_argument("--fps", type=positive_number, help="default: the clips' common frame rate")
    imp.add_argument("--size", type=parse_size, help="HxW; default: the clips' common size")
    imp.set_defaults(func=run_import)


def config_from_args(cls: type[ConfigT], args: argparse.Namespace) -> ConfigT:
    """A config dataclass from the parsed options of the same names (every field is an
    option, so a renamed field fails loudly here instead of being left at its default)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def _report(bench: Benchmark) -> int:
    i = bench.info
    print(f"wrote {i.tag} ({len(bench)} samples, {i.num_frames} frames at {i.fps:g} fps, "
          f"{i.height}x{i.width}, sha256 {i.sha256[:12]}…) to {bench.root}")
    return 0


def motion_scorer(backend: str, device: str, checkpoint: Path | None) -> PairwiseMotionScorer:
    """The SA-V-128 motion score on the AD metric's backend `backend` with AD's preset."""
    from ttm_bench.data.sav.scoring import PairwiseMotionScorer
    from ttm_bench.metrics.motion import MOTION_BACKENDS, AverageDisplacement

    if backend not in MOTION_BACKENDS:
        raise UnknownNameError("motion backend", backend, list(MOTION_BACKENDS))
    params = {**AverageDisplacement.default_params,
              **AverageDisplacement.backend_params.get(backend, {}), "backend": backend}
    return PairwiseMotionScorer(MOTION_BACKENDS[backend](params, device, checkpoint),
                                {"ad": params}, short_side=params["eval_short_side"])


def run_sav128(args: argparse.Namespace) -> int:
    from ttm_bench.data.sav.captioning import OpenAICompatibleVLM, TransformersVLM
    from ttm_bench.data.sav.scoring import LaionAestheticScorer
    from ttm_bench.data.sav128 import Sav128Backends, Sav128Builder, Sav128Config

    if args.vlm_backend == "transformers":
        if args.vlm_checkpoint is None:
            raise TTMBenchError("--vlm-backend transformers needs --vlm-checkpoint DIR")
        vlm = TransformersVLM(args.vlm_checkpoint, device=args.device)
    else:
        vlm = OpenAICompatibleVLM(args.vlm_url, args.vlm_model)
    motion = motion_scorer(args.motion_backend, args.device, args.motion_checkpoint)
    aesthetic = LaionAestheticScorer.load(clip_checkpoint=args.clip_checkpoint,
                                          head_checkpoint=args.aesthetic_checkpoint,
                                          device=args.device)
    backends = Sav128Backends(vlm, aesthetic, motion)
    return _report(Sav128Builder(config_from_args(Sav128Config, args), backends).run())


def run_animation_bench(args: argparse.Namespace) -> int:
    from ttm_bench.data.animation_bench import AnimationBenchConfig, build_animation_bench

    return _report(build_animation_bench(config_from_args(AnimationBenchConfig, args)))


def run_import(args: argparse.Namespace) -> int:
    from ttm_bench.data.importer import ImportConfig, import_benchmark

    return _report(import_benchmark(config_from_args(ImportConfig, args)))
