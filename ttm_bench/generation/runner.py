"""Generate a run: one model over (a shard of) a benchmark, resumable and fault-tolerant.

`GenerationJob` is the picklable description of the work and knows how to process one sample
with a loaded model (build the request, generate, check, write the mp4 and the model's
trajectory, if it returned one, atomically, then the sidecar). An executor
(`executor.LocalExecutor`, or Ray) decides where models live and which samples they process. A
sample that raises is recorded as failed in its sidecar and the run continues; rerunning the
same command regenerates exactly the unfinished samples.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ttm_bench import __version__
from ttm_bench.atomic import write_text
from ttm_bench.data.benchmark import Benchmark, SampleError
from ttm_bench.data.masklets import masklets_to_json
from ttm_bench.data.verification import SKIPPED, open_benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import (
    GeneratedVideo,
    GenerationFailure,
    GenerationRequest,
    VideoModel,
)
from ttm_bench.generation.normalize import normalize_trajectory, normalize_video
from ttm_bench.generation.registry import (
    create_model,
    describe_changes,
    merge_config,
    resolve_model,
)
from ttm_bench.generation.run import RunDir, RunInfo, SampleRecord
from ttm_bench.generation.seeds import SEED_POLICY, derive_seed
from ttm_bench.hashing import file_sha256
from ttm_bench.video.frames import check_video as check_frames


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `I/N` (0 <= I < N) into (I, N)."""
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise TTMBenchError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise TTMBenchError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def shard_samples(sample_ids: Sequence[str], index: int, count: int) -> list[str]:
    """The samples of shard `index` of `count`: every `count`-th sample in manifest order."""
    return [s for i, s in enumerate(sample_ids) if i % count == index]


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _peak_gpu_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


@dataclass(frozen=True)
class GenerationJob:
    """Everything needed to generate samples of one run, anywhere (picklable)."""

    benchmark_root: Path
    run_root: Path
    model: str
    config: Mapping[str, Any]
    device: str = "cpu"
    repetition: int = 0

    @cached_property
    def benchmark(self) -> Benchmark:
        """Loaded once per process that uses the job."""
        return Benchmark.load(self.benchmark_root)

    @property
    def run(self) -> RunDir:
        return RunDir(self.run_root)

    def load_model(self) -> VideoModel:
        return create_model(self.model, self.config, self.device)

    def request(self, sample_id: str, *, assets: bool = True) -> GenerationRequest:
        """The request of one sample. Raises `SampleError` when its image or masks are unusable;
        `assets=False` reads neither (blank image, no masks), to record a failure."""
        bench = self.benchmark
        sample = bench.sample(sample_id)
        h, w = bench.info.height, bench.info.width
        return GenerationRequest(
            sample_id=sample.id,
            image=bench.image(sample) if assets else np.zeros((h, w, 3), np.uint8),
            caption=sample.caption,
            num_frames=bench.info.num_frames,
            fps=bench.info.fps,
            height=bench.info.height,
            width=bench.info.width,
            seed=derive_seed(bench.info.name, sample.id, self.repetition),
            motion_prompt=sample.motion_prompt,
            local_prompts=tuple(o.local_prompt for o in sample.objects),
            object_labels=tuple(o.label for o in sample.objects),
            masks=bench.masks(sample) if assets else np.zeros((0, h, w), bool),
            ground_truth=(bench.asset_path(sample, "video", sample.video) if sample.video
                          else None),
        )

    def process(self, model: VideoModel, sample_id: str,
                extra: Mapping[str, Any] | None = None) -> SampleRecord:
        """Generate, normalise, check and write one sample; failures become a failed sidecar,
        not raises. `extra` is added to the sidecar (e.g. the executor's attempt number)."""
        return self.process_batch(model, [sample_id], extra)[0]

    def process_batch(self, model: VideoModel, sample_ids: Sequence[str],
                      extra: Mapping[str, Any] | None = None) -> list[SampleRecord]:
        """`process` for several samples with one `generate_batch` call (an external tool then
        loads its weights once per batch); a single sample goes through `generate`."""
        requests, records = [], {}
        for sample_id in sample_ids:
            try:
                requests.append(self.request(sample_id))
            except SampleError as exc:  # a bad manifest entry fails only its sample
                records[sample_id] = self.record_failure(sample_id, str(exc), extra)
        if len(requests) == 1:
            record = self._finish(requests[0], *_timed(model.generate, requests[0]), extra)
            records[record.sample_id] = record
        elif requests:
            outputs, seconds = _timed(model.generate_batch, requests)
            if isinstance(outputs, BaseException):  # the whole batch raised: each sample fails
                outputs = [outputs] * len(requests)
            for r, o in zip(requests, outputs, strict=True):
                records[r.sample_id] = self._finish(r, o, seconds / len(requests), extra)
        return [records[s] for s in sample_ids]

    def record_failure(self, sample_id: str, error: str,
                       extra: Mapping[str, Any] | None = None) -> SampleRecord:
        """Write and return a failed sidecar for a sample that could not be processed."""
        return self._finish(self.request(sample_id, assets=False), GenerationFailure(error),
                            0.0, extra)

    def _finish(self, request: GenerationRequest, output: object, seconds: float,
                extra: Mapping[str, Any] | None) -> SampleRecord:
        """Normalise, check and write one output (or record its failure); write the sidecar."""
        from ttm_bench.video import write_video

        start = time.perf_counter()
        sidecar: dict[str, Any] = dict(extra or {})
        error = video_sha256 = trajectory_sha256 = None
        trajectory_path = self.run.trajectory_path(request.sample_id)
        try:
            if isinstance(output, BaseException):
                raise output
            if isinstance(output, GeneratedVideo):
                sidecar.update(output.record)
                output = GeneratedVideo(check_frames(output.frames), output.fps,
                                        trajectory=output.trajectory)
            else:  # already at the benchmark's format: the policy must be the identity
                check_video(output, request)
                output = GeneratedVideo(output, request.fps)
            video, normalization = normalize_video(output, request)
            sidecar["normalization"] = normalization.to_dict()
            check_video(video, request)
            trajectory = (None if output.trajectory is None else
                          normalize_trajectory(output.trajectory, normalization,
                                               len(request.masks)))
            path = self.run.video_path(request.sample_id)
            write_video(path, video, request.fps)
            video_sha256 = file_sha256(path)
            trajectory_path.unlink(missing_ok=True)  # a trajectory of an earlier attempt
            if trajectory is not None:
                trajectory_sha256 = self._write_trajectory(request.sample_id, trajectory)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one sample's failure must not stop the run
            if isinstance(exc, GenerationFailure):
                sidecar.update(exc.record)
            tail = "".join(traceback.format_exception(exc)[-3:])
            error = f"{type(exc).__name__}: {exc}\n{tail}"
            self.run.video_path(request.sample_id).unlink(missing_ok=True)
            trajectory_path.unlink(missing_ok=True)
            video_sha256 = trajectory_sha256 = None
        record = SampleRecord(
            sample_id=request.sample_id,
            status="failed" if error else "ok",
            seed=request.seed,
            frames=request.num_frames,
            fps=request.fps,
            height=request.height,
            width=request.width,
            seconds=round(seconds + time.perf_counter() - start, 4),
            peak_rss_mb=round(_peak_rss_mb(), 1),
            peak_gpu_mb=_peak_gpu_mb(),
            error=error,
            video_sha256=video_sha256,
            trajectory_sha256=trajectory_sha256,
            extra=sidecar,
        )
        self.run.write_record(record)
        return record

    def _write_trajectory(self, sample_id: str, trajectory: np.ndarray) -> str:
        """Write bool [T, L, H, W] as `trajectories/<sample_id>.json` (masklets format, the
        sample's object ids) atomically; return its sha256."""
        ids = [o.id for o in self.benchmark.sample(sample_id).objects]
        path = self.run.trajectory_path(sample_id)
        write_text(path, json.dumps(masklets_to_json(trajectory, ids)) + "\n")
        return file_sha256(path)


def _timed(call: Callable[[Any], Any], argument: Any) -> tuple[Any, float]:
    """(call(argument) or the exception it raised, seconds); interrupts still propagate."""
    start = time.perf_counter()
    try:
        result = call(argument)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # recorded per sample by `_finish`
        result = exc
    return result, time.perf_counter() - start


def check_video(video: object, request: GenerationRequest) -> None:
    """Raise `TTMBenchError` unless `video` is uint8 [T, H, W, 3] with the requested T, H, W."""
    expected = (request.num_frames, request.height, request.width, 3)
    if not isinstance(video, np.ndarray):
        raise TTMBenchError(f"model returned {type(video).__name__}, expected a numpy array")
    if video.dtype != np.uint8 or video.shape != expected:
        raise TTMBenchError(f"model returned {video.dtype} {list(video.shape)}, expected uint8 "
                            f"{list(expected)} (frames, height, width, RGB)")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def prepare_run(job: GenerationJob, verification: str | None = None) -> RunInfo:
    """Create `run.json`, or check that an existing run matches this job (resume).

    verification: whether the benchmark's hash was checked (`verification.VERIFIED`/`SKIPPED`);
    a resume that skips the check marks the whole run as skipped."""
    cls = resolve_model(job.model)
    bench = job.benchmark
    info = RunInfo(
        model=cls.name,
        adapter_version=cls.version,
        config=dict(job.config),
        seed_policy=SEED_POLICY,
        repetition=job.repetition,
        benchmark={"name": bench.info.name, "version": bench.info.version,
                   "sha256": bench.info.sha256},
        code_version=__version__,
        started=_now(),
        benchmark_verification=verification,
    )
    run = job.run
    if run.root.exists() and not run.root.is_dir():
        raise TTMBenchError(f"run directory {run.root} is a file; choose a directory path for "
                            "--out")
    if run.info_path.exists():
        old = run.read_info()
        for key in ("model", "adapter_version", "config", "repetition", "benchmark"):
            if getattr(old, key) != getattr(info, key):
                raise TTMBenchError(
                    f"{run.info_path} was made with {key}={getattr(old, key)!r}, this command asks "
                    f"for {getattr(info, key)!r}; its videos would mix. Use a new --out directory "
                    "(or the original settings to resume)."
                )
        if verification == SKIPPED != old.benchmark_verification:
            old = RunInfo(**{**old.to_dict(), "benchmark_verification": SKIPPED})
            run.write_info(old)
        return old
    run.videos.mkdir(parents=True, exist_ok=True)
    run.write_info(info)
    return info


@dataclass
class RunSummary:
    """changed_config: the run's config values that differ from the model's defaults, as
    `--set` options ("" when none), named when samples fail."""

    run_root: Path
    total: int
    skipped: int
    ok: int
    failed: dict[str, str]
    changed_config: str = ""

    def describe(self) -> str:
        text = (f"{self.run_root}: {self.ok} generated, {self.skipped} already done, "
                f"{len(self.failed)} failed (of {self.total} in this shard)")
        for sample_id, error in sorted(self.failed.items()):
            text += f"\n  failed {sample_id}: {error.splitlines()[0]}"
        if self.failed:
            text += "\nrerun the same command to retry the failed samples"
            if self.changed_config:
                text += (f"; this run sets {self.changed_config}: if these values make the "
                         "model fail, correct them and generate into a new --out")
        return text


def generate_run(
    benchmark_root: str | Path,
    model: str,
    out: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    shard: tuple[int, int] = (0, 1),
    repetition: int = 0,
    device: str = "cpu",
    executor: Any = None,
    progress: bool = True,
    verify: bool = True,
) -> RunSummary:
    """Generate every unfinished sample of the shard; see the module docstring.

    verify: check the benchmark's content hash first (`verification.open_benchmark`)."""
    from ttm_bench.generation.executor import LocalExecutor

    cls = resolve_model(model)
    config = merge_config(cls, overrides or {})
    job = GenerationJob(Path(benchmark_root), Path(out), model, config, device, repetition)
    _, verification = open_benchmark(benchmark_root, verify=verify)
    info = prepare_run(job, verification)
    ids = shard_samples([s.id for s in job.benchmark.samples], *shard)
    pending = [s for s in ids if not job.run.is_finished(s)]
    job.run.remove_stale_temporaries(pending)
    summary = RunSummary(job.run_root, len(ids), len(ids) - len(pending), 0, {},
                         describe_changes(cls, config))
    if pending:
        executor = executor or LocalExecutor(progress=progress)
        for record in executor.map(job, pending):
            if record.ok:
                summary.ok += 1
            else:
                summary.failed[record.sample_id] = record.error or "unknown error"
    all_ids = [s.id for s in job.benchmark.samples]
    if all(job.run.is_finished(s) for s in all_ids):
        job.run.write_info(RunInfo(**{**info.to_dict(), "finished": _now()}))
    return summary
