"""Evaluate a run: decode each video once, feed every metric, write results with CIs.

Inputs are a run directory plus the benchmark it was generated on, or a plain folder of
`<sample_id>.mp4` files (reference-free metrics only). Outputs, in the results directory:
`per_sample.parquet` (sample_id, split, metric, value), `aggregate.parquet` (run, benchmark,
split, metric, value, ci_low, ci_high, n, n_undefined, n_expected, preset_hash), `results.json`
(the same aggregate plus presets, skipped metrics with reasons, and provenance) and, for
set-level metrics such as FVD, their per-sample features in `features/<metric>.npz`
(`metrics.sample_features`). Aggregates exist per split and for `all`; a split with fewer
evaluated samples than expected is marked incomplete through `n < n_expected`, never silently
averaged over fewer samples. `n` counts the samples evaluated; `n_undefined` those of them on
which the metric is undefined (`Metric.undefined_when`: NaN per sample), left out of the value
and interval, which are over n − n_undefined samples.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ttm_bench import __version__
from ttm_bench.data.benchmark import Benchmark, SampleError
from ttm_bench.data.sample import ALL_SPLIT
from ttm_bench.data.verification import open_benchmark
from ttm_bench.decode_prefetch import DEFAULT_WORKERS, decode_ahead, ground_truth
from ttm_bench.errors import TTMBenchError, ValidationError, optional_dependency
from ttm_bench.generation.run import RunDir, SampleRecord
from ttm_bench.hashing import file_sha256
from ttm_bench.metrics.base import EvalItem, Metric, PerSampleMetric, defined_values
from ttm_bench.metrics.registry import canonical_name, create_metric, expand_names, list_metrics
from ttm_bench.metrics.sample_features import SampleFeatures, features_file
from ttm_bench.metrics.sample_features import write as write_features
from ttm_bench.metrics.stats import bootstrap_mean_ci, centred_bootstrap_ci
from ttm_bench.results_dir import ResultsWriter


@dataclass(frozen=True)
class VideoEntry:
    """One video to evaluate: its sample id, split and file.

    sha256: the file's hash recorded in its run sidecar when it was generated; evaluation
    refuses a file that no longer has it. None: nothing to check against (a folder of videos,
    or a sidecar written before ttm-bench recorded the hash).
    trajectory, trajectory_sha256: the model's trajectory file and the hash its sidecar
    recorded; None when the model returned none (always checked before use).
    """

    sample_id: str
    split: str
    path: Path
    sha256: str | None = None
    trajectory: Path | None = None
    trajectory_sha256: str | None = None


@dataclass
class EvaluationInputs:
    """What to evaluate: the videos, the expected samples per split, and the benchmark, if any."""

    name: str
    videos: list[VideoEntry]
    expected: dict[str, list[str]]  # split → every sample id the split should have
    benchmark: Benchmark | None = None
    model: str | None = None
    run_info: dict[str, Any] = field(default_factory=dict)
    run_sha256: str | None = None  # the run's identity (`RunInfo.identity`); None for folders
    benchmark_verification: str | None = None  # verification.VERIFIED or SKIPPED; None: none
    #: Where the inputs were read from (absolute paths), recorded so that reports can find the
    #: videos and images: "run" and "benchmark", or "videos" for a plain folder.
    source: dict[str, str] = field(default_factory=dict)


def inputs_from_run(run_root: str | Path, benchmark_root: str | Path,
                    name: str | None = None, *, verify: bool = True) -> EvaluationInputs:
    """Collect the finished videos of a run and check it was made on this benchmark.

    verify: check the benchmark's content hash first (`verification.open_benchmark`)."""
    bench, verification = open_benchmark(benchmark_root, verify=verify)
    run = RunDir(run_root)
    info = run.read_info()
    made_on = info.benchmark
    if made_on.get("sha256") != bench.info.sha256:
        raise TTMBenchError(
            f"run {run.root} was generated on benchmark {made_on.get('name')}@"
            f"{made_on.get('version')} (sha256 {str(made_on.get('sha256'))[:12]}…), but "
            f"{bench.root} is {bench.info.tag} (sha256 {bench.info.sha256[:12]}…); evaluate "
            "against the benchmark the run was made from, or regenerate the run"
        )
    records = {s.id: run.finished_record(s.id) for s in bench.samples}
    videos = [_run_entry(run, s.id, s.split, record) for s in bench.samples
              if (record := records[s.id]) is not None]
    return EvaluationInputs(
        name=name or run.root.resolve().name,
        videos=videos,
        expected=_expected_by_split([(s.id, s.split) for s in bench.samples]),
        benchmark=bench,
        model=info.model,
        run_info=info.to_dict(),
        run_sha256=info.identity,
        benchmark_verification=verification,
        source={"run": str(run.root.resolve()), "benchmark": str(bench.root.resolve())},
    )


def _run_entry(run: RunDir, sample_id: str, split: str, record: SampleRecord) -> VideoEntry:
    trajectory = record.trajectory_sha256
    return VideoEntry(sample_id, split, run.video_path(sample_id), record.video_sha256,
                      run.trajectory_path(sample_id) if trajectory else None, trajectory)


def inputs_from_folder(folder: str | Path, name: str) -> EvaluationInputs:
    """Every `<sample_id>.mp4` in `folder`, as one split `all`, with no benchmark."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TTMBenchError(f"video folder {folder} does not exist")
    paths = sorted(folder.glob("*.mp4"))
    if not paths:
        raise TTMBenchError(f"no .mp4 files in {folder}; videos must be named <sample_id>.mp4")
    videos = [VideoEntry(p.stem, ALL_SPLIT, p) for p in paths]
    return EvaluationInputs(name, videos, {ALL_SPLIT: [v.sample_id for v in videos]},
                            source={"videos": str(folder.resolve())})


def _expected_by_split(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = {ALL_SPLIT: [sid for sid, _ in pairs]}
    for sid, split in pairs:
        expected.setdefault(split, []).append(sid)
    return expected


def select_metrics(inputs: EvaluationInputs, names: Sequence[str] | None, device: str,
                   options: Mapping[str, Mapping[str, Any]] | None = None,
                   ) -> tuple[list[Metric], dict[str, str]]:
    """Build and set up metrics. Returns (metrics, skipped name → reason).

    options: metric name (or alias) → keyword arguments for its constructor, e.g.
    `{"fvd16": {"checkpoint": "/weights/i3d.pt"}}`; preset parameters among them change the
    preset (and its hash), others (checkpoint, batch_size) do not.

    Explicitly requested metrics that cannot run raise; from the default set (every registered
    metric not marked opt-in) they are skipped with the reason recorded, for the leaderboard's
    footnotes.
    """
    explicit = names is not None
    kwargs = {canonical_name(k): dict(v) for k, v in (options or {}).items()}
    chosen = expand_names(names) if names else list_metrics(default_set_only=True)
    samples = inputs.benchmark.samples if inputs.benchmark is not None else ()
    has = {"caption": bool(samples), "image": bool(samples),
           "reference": bool(samples) and all(s.video for s in samples),
           "masks": bool(samples) and all(s.objects for s in samples),
           "masklets": bool(samples) and all("masklets" in s.meta for s in samples),
           "trajectory": bool(inputs.videos) and all(v.trajectory for v in inputs.videos)}
    available = frozenset(k for k, v in has.items() if v)
    metrics, skipped = [], {}
    for name in chosen:
        source = "a folder of videos" if inputs.benchmark is None else "this benchmark"
        try:
            metric = create_metric(name, **kwargs.get(name, {}))
            metric.choose_inputs(available)
            missing = sorted(r for r in metric.requires if not has[r])
            if missing:
                raise TTMBenchError(_missing_inputs(name, missing, source))
            with optional_dependency(f"metric {name!r}", "metrics"):
                metric.setup(device)
        except TTMBenchError as exc:  # missing weights, extras or inputs
            if explicit:
                raise
            skipped[name] = str(exc)
            continue
        metrics.append(metric)
    if not metrics:
        reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise TTMBenchError(f"no metric can run: {reasons}")
    return metrics, skipped


#: Inputs that come from the run rather than the benchmark: what is missing, and the fix.
_RUN_INPUTS = {
    "trajectory": "the model's trajectory for every video, which this run does not have: its "
                  "model returned none (GeneratedVideo.trajectory; see docs/metrics.md); "
                  "evaluate it against the benchmark's masklets instead",
}


def _missing_inputs(metric: str, missing: list[str], source: str) -> str:
    """Why `metric` cannot run without the inputs `missing`, and the fix: a benchmark first
    (`source` names what was evaluated), else what the run lacks."""
    if any(r not in _RUN_INPUTS for r in missing):
        return (f"metric {metric!r} needs {', '.join(missing)}, which {source} does not "
                "provide; evaluate a run with --bench DIR")
    return f"metric {metric!r} needs " + "; and ".join(_RUN_INPUTS[r] for r in missing)


def _check_file(entry: VideoEntry) -> tuple[str | None, str | None]:
    """(the file's sha256, None) or (None, why the file is not the one its sidecar recorded)."""
    try:
        sha256 = file_sha256(entry.path)
    except OSError as exc:
        return None, f"cannot read {entry.path}: {exc.strerror or exc}"
    problem = _changed_since_generation(entry.path, sha256, entry.sha256)
    return (None, problem) if problem else (sha256, None)


def _changed_since_generation(path: Path, sha256: str, recorded: str | None) -> str | None:
    """Why `path` (with `sha256`) is not the file its sidecar `recorded`; None when it is or
    when nothing was recorded."""
    if recorded is None or sha256 == recorded:
        return None
    return (f"{path} has sha256 {sha256[:12]}…, but its sidecar recorded {str(recorded)[:12]}… "
            "when it was generated: the file was damaged or replaced since; delete the "
            "sample's video and its .json sidecar and rerun `ttm-bench generate` to regenerate "
            "the sample")


def _read_trajectory(entry: VideoEntry, bench: Benchmark) -> np.ndarray | str:
    """The run's trajectory of `entry`, bool [T, L, H, W], or why it cannot be used."""
    from ttm_bench.data.masklets import parse_masklets

    if entry.trajectory is None:
        return (f"the run recorded no trajectory for {entry.sample_id!r} in its sidecar (the "
                "model returned none)")
    try:  # read once: the bytes hashed are the bytes parsed
        raw = entry.trajectory.read_bytes()
    except OSError as exc:
        return f"cannot read {entry.trajectory}: {exc.strerror or exc}"
    problem = _changed_since_generation(entry.trajectory, hashlib.sha256(raw).hexdigest(),
                                        entry.trajectory_sha256)
    if problem:
        return problem
    fix = "delete the sample's video and .json sidecar and rerun `ttm-bench generate`"
    try:
        data = json.loads(raw.decode("utf-8"))
        info = bench.info
        return parse_masklets(data, str(entry.trajectory),
                              [o.id for o in bench.sample(entry.sample_id).objects],
                              (info.height, info.width), fix, num_frames=info.num_frames)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{entry.trajectory}: not valid JSON ({exc}) (fix: {fix})"
    except ValidationError as exc:
        return "; ".join(str(p) for p in exc.problems)


def _check_video(video: np.ndarray, fps: float, entry: VideoEntry,
                 bench: Benchmark | None) -> str | None:
    if bench is None:
        return None
    info = bench.info
    expected = (info.num_frames, info.height, info.width, 3)
    if video.shape != expected:
        return (f"{entry.path} is {list(video.shape)}, the benchmark expects {list(expected)} "
                "(frames, height, width, RGB); regenerate it at the benchmark's size and length")
    if not math.isclose(fps, info.fps, rel_tol=1e-3):
        return (f"{entry.path} plays at {fps:g} fps, the benchmark's clips at {info.fps:g} fps "
                "(motion per frame would not be comparable); regenerate it at the benchmark's "
                "fps")
    return None


def evaluate(
    inputs: EvaluationInputs,
    out: str | Path,
    metric_names: Sequence[str] | None = None,
    *,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    device: str = "cpu",
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
    executor: Any = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run every metric over the inputs and write the results directory; return results.json.

    `executor` (e.g. `evaluation_ray.RayFeatureExecutor`) extracts features elsewhere and merges
    them into `metrics`; by default this process decodes and updates every metric itself.
    The results directory is locked for the whole evaluation and replaced as a whole
    (`results_dir`); results of another run there are refused unless `overwrite`.
    """
    if n_boot < 1 or seed < 0:  # before the work, not after it
        raise TTMBenchError(f"--n-boot {n_boot} --seed {seed}: need at least 1 bootstrap "
                            "resample and a seed >= 0 (defaults: --n-boot 1000 --seed 0)")
    with ResultsWriter(out) as writer:
        _check_replaceable(writer, inputs, overwrite)
        return _evaluate_into(writer, inputs, metric_names, metric_options=metric_options,
                              device=device, n_boot=n_boot, seed=seed, progress=progress,
                              executor=executor)


def _evaluate_into(writer: ResultsWriter, inputs: EvaluationInputs,
                   metric_names: Sequence[str] | None, *,
                   metric_options: Mapping[str, Mapping[str, Any]] | None, device: str,
                   n_boot: int, seed: int, progress: bool, executor: Any) -> dict[str, Any]:
    """`evaluate` with the results directory locked by `writer`."""
    from ttm_bench.video import decoder_backend

    metrics, skipped = select_metrics(inputs, metric_names, device, metric_options)
    bench = inputs.benchmark
    if executor is None:
        invalid = extract_features(inputs.videos, metrics, bench, progress=progress,
                                   desc=f"evaluate {inputs.name}")
    else:
        invalid = executor.extract(inputs, metrics, device, progress=progress)
    evaluated = {v.sample_id for v in inputs.videos} - set(invalid)
    per_sample_rows, aggregate_rows = [], []
    split_of = {v.sample_id: v.split for v in inputs.videos}
    benchmark_tag = bench.info.tag if bench else "none"
    for metric in metrics:
        for sid, value in metric.per_sample().items():
            if sid not in evaluated:  # updated before another metric refused the video
                continue
            per_sample_rows.append({"sample_id": sid, "split": split_of[sid],
                                    "metric": metric.preset.metric, "value": value})
        for split, expected_ids in inputs.expected.items():
            ids = [s for s in expected_ids if s in evaluated]
            value, low, high = _aggregate(metric, ids, n_boot, seed)
            aggregate_rows.append({
                "run": inputs.name, "benchmark": benchmark_tag, "split": split,
                "metric": metric.preset.metric, "value": value, "ci_low": low, "ci_high": high,
                "n": len(ids), "n_undefined": _count_undefined(metric, ids),
                "n_expected": len(expected_ids), "preset_hash": metric.preset.hash,
            })
    results = {
        "run": inputs.name,
        "run_sha256": inputs.run_sha256,
        "model": inputs.model,
        "benchmark": ({"name": bench.info.name, "version": bench.info.version,
                       "sha256": bench.info.sha256} if bench else None),
        "benchmark_verification": inputs.benchmark_verification,
        "code_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "decoder": decoder_backend(),
        "complete": all(r["n"] == r["n_expected"] for r in aggregate_rows),
        "n_expected": len(inputs.expected[ALL_SPLIT]),
        "missing_samples": sorted(set(inputs.expected[ALL_SPLIT]) - evaluated),
        "invalid_samples": invalid,
        "unverified_videos": sorted(v.sample_id for v in inputs.videos
                                    if v.sha256 is None and inputs.run_info),
        "presets": {m.preset.metric: m.preset.to_dict() for m in metrics},
        "metrics": {m.preset.metric: {"label": m.label, "higher_is_better": m.higher_is_better,
                                      "can_be_undefined": m.undefined_when is not None}
                    for m in metrics},
        "warnings": {m.preset.metric: m.warnings for m in metrics if m.warnings},
        "skipped_metrics": skipped,
        "bootstrap": {"n_boot": n_boot, "level": 0.95, "seed": seed,
                      "method": "percentile (means), centred (set-level)",
                      "methods": {m.preset.metric: interval_method(m) for m in metrics}},
        "run_info": inputs.run_info,
        "source": inputs.source,
        "aggregate": aggregate_rows,
    }
    valid_splits = {sid: split_of[sid] for sid in evaluated}
    features = [SampleFeatures.from_state(m.preset.metric, m.preset.hash, m.state(),
                                          valid_splits)
                for m in metrics if not isinstance(m, PerSampleMetric)]
    _write_results(writer, per_sample_rows, aggregate_rows, features, results)
    return results


def extract_features(entries: Sequence[VideoEntry], metrics: Sequence[Metric],
                     bench: Benchmark | None, *, progress: bool = True,
                     desc: str = "evaluate", workers: int = DEFAULT_WORKERS) -> dict[str, str]:
    """Decode each video once and update every metric with it; returns sample id → why a
    video was not evaluated (changed since its sidecar recorded it, unreadable, not the
    benchmark's format, or refused by a metric).

    Videos are decoded ahead on `workers` threads (`decode_prefetch`; 0 = sequentially) and
    fed to the metrics in input order, so results equal the sequential path bit for bit.
    """
    needs = set().union(*(m.requires for m in metrics))
    invalid: dict[str, str] = {}
    decoded = decode_ahead(entries, partial(_decode, bench=bench, needs=needs), workers=workers)
    for entry, item in tqdm(zip(entries, decoded, strict=True), total=len(entries), desc=desc,
                            unit="video", disable=not progress):
        if isinstance(item, str):
            invalid[entry.sample_id] = item
            continue
        try:
            for metric in metrics:
                metric.update(item)
        except TTMBenchError as exc:  # a video a metric cannot take (e.g. one frame for AD):
            invalid[entry.sample_id] = f"{entry.path}: {exc}"  # flagged; never aggregated
    return invalid


def _decode(entry: VideoEntry, bench: Benchmark | None, needs: set[str]) -> EvalItem | str:
    """The metrics' item for one video, or why it cannot be evaluated (runs on a worker)."""
    from ttm_bench.video import VideoDecodeError, probe_video, read_video

    sha256, problem = _check_file(entry)  # before decoding: FFmpeg conceals damage
    if problem:
        return problem
    try:
        video = read_video(entry.path)
        fps = probe_video(entry.path).fps if bench else 0.0
    except VideoDecodeError as exc:  # one unreadable file: flagged, the rest evaluated
        return str(exc)
    problem = _check_video(video, fps, entry, bench)
    if problem:
        return problem
    sample = bench.sample(entry.sample_id) if bench else None
    try:
        image, reference = ground_truth(bench, sample, needs)
        masks = bench.masks(sample) if sample and "masks" in needs else None
        masklets = bench.masklets(sample) if sample and "masklets" in needs else None
    except (SampleError, VideoDecodeError) as exc:  # the benchmark's own sample is broken
        return f"benchmark sample unusable: {exc}"
    trajectory = _read_trajectory(entry, bench) if bench and "trajectory" in needs else None
    if isinstance(trajectory, str):
        return trajectory
    return EvalItem(
        sample_id=entry.sample_id,
        split=entry.split,
        video=video,
        fps=bench.info.fps if bench else 0.0,
        caption=sample.caption if sample else None,
        image=image,
        reference=reference,
        video_sha256=sha256,
        masks=masks,
        masklets=masklets,
        trajectory=trajectory,
    )


def interval_method(metric: Metric) -> str:
    """How `_aggregate` draws the metric's interval (see `metrics.stats`)."""
    return "percentile" if isinstance(metric, PerSampleMetric) else "centred"


def _aggregate(metric: Metric, ids: list[str], n_boot: int,
               seed: int) -> tuple[float, float, float]:
    if not ids:
        return float("nan"), float("nan"), float("nan")
    value = metric.compute_on(ids)
    if isinstance(metric, PerSampleMetric):  # mean of per-sample values: vectorised bootstrap
        per_sample = metric.per_sample()
        values = defined_values([per_sample[s] for s in ids])  # `Metric.undefined_when`
        low, high = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed)
    else:
        low, high = centred_bootstrap_ci(lambda idx: metric.compute_on([ids[i] for i in idx]),
                                         len(ids), n_boot=n_boot, seed=seed)
    return value, low, high


def _count_undefined(metric: Metric, ids: list[str]) -> int:
    """How many of `ids` the metric leaves undefined (NaN, out of the value and interval)."""
    if not isinstance(metric, PerSampleMetric):
        return 0
    undefined = set(metric.undefined_ids)
    return sum(s in undefined for s in ids)


def _check_replaceable(writer: ResultsWriter, inputs: EvaluationInputs,
                       overwrite: bool) -> None:
    """Refuse to replace results of another run (by run.json content), name or benchmark."""
    if overwrite:
        return
    try:
        old = writer.current_manifest()
    except TTMBenchError as exc:
        raise TTMBenchError(f"{exc}; or pass --overwrite to replace it") from None
    if old is None:
        return
    bench = inputs.benchmark
    new_sha = bench.info.sha256 if bench else None
    old_sha = (old.get("benchmark") or {}).get("sha256")
    identities = [("run name", old.get("run"), inputs.name),
                  ("benchmark sha256", old_sha, new_sha)]
    if "run_sha256" in old:  # results written before runs had an identity: name and benchmark
        identities.append(("run.json sha256", old["run_sha256"], inputs.run_sha256))
    differences = [f"{what} {before!r} (this evaluation: {after!r})"
                   for what, before, after in identities if before != after]
    if differences:
        raise TTMBenchError(f"{writer.root} holds the results of another run: "
                            f"{'; '.join(differences)}. Choose another --out, or pass "
                            "--overwrite to replace them")


def _write_results(writer: ResultsWriter, per_sample: list[dict], aggregate: list[dict],
                   features: list[SampleFeatures], results: dict[str, Any]) -> None:
    columns = ["sample_id", "split", "metric", "value"]
    per_sample_frame = pd.DataFrame(per_sample, columns=columns)
    aggregate_frame = pd.DataFrame(aggregate)
    writer.commit(_json_safe(results), {
        "per_sample.parquet": lambda path: per_sample_frame.to_parquet(path, index=False),
        "aggregate.parquet": lambda path: aggregate_frame.to_parquet(path, index=False),
        **{features_file(f.metric): partial(write_features, features=f) for f in features},
    })


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
