"""Generate a run: one model over (a shard of) a benchmark, resumable and fault-tolerant.

`GenerationJob` is the picklable description of the work and knows how to process one sample
with a loaded model (build the request, generate, check, write the mp4 atomically, then the
sidecar). An executor (`executor.LocalExecutor`, or Ray) decides where models live and which
samples they process. A sample that raises is recorded as failed in its sidecar and the run
continues; rerunning the same command regenerates exactly the unfinished samples.
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ttm_bench import __version__
from ttm_bench.atomic import remove_stale_temporaries
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GenerationRequest, VideoModel
from ttm_bench.generation.registry import create_model, merge_config, resolve_model
from ttm_bench.generation.run import RunDir, RunInfo, SampleRecord
from ttm_bench.generation.seeds import SEED_POLICY, derive_seed


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

    def request(self, sample_id: str) -> GenerationRequest:
        bench = self.benchmark
        sample = bench.sample(sample_id)
        return GenerationRequest(
            sample_id=sample.id,
            image=bench.image(sample),
            caption=sample.caption,
            num_frames=bench.info.num_frames,
            fps=bench.info.fps,
            height=bench.info.height,
            width=bench.info.width,
            seed=derive_seed(bench.info.name, sample.id, self.repetition),
            motion_prompt=sample.motion_prompt,
            local_prompts=tuple(o.local_prompt for o in sample.objects),
            object_labels=tuple(o.label for o in sample.objects),
            masks=bench.masks(sample),
            ground_truth=bench.root / sample.video if sample.video else None,
        )

    def process(self, model: VideoModel, sample_id: str) -> SampleRecord:
        """Generate, check and write one sample; failures become a failed sidecar, not raises."""
        from ttm_bench.video import write_video

        request = self.request(sample_id)
        start = time.perf_counter()
        error = None
        try:
            video = model.generate(request)
            check_video(video, request)
            write_video(self.run.video_path(sample_id), video, request.fps)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one sample's failure must not stop the run
            tail = "".join(traceback.format_exception(exc)[-3:])
            error = f"{type(exc).__name__}: {exc}\n{tail}"
            self.run.video_path(sample_id).unlink(missing_ok=True)
        record = SampleRecord(
            sample_id=sample_id,
            status="failed" if error else "ok",
            seed=request.seed,
            frames=request.num_frames,
            fps=request.fps,
            height=request.height,
            width=request.width,
            seconds=round(time.perf_counter() - start, 4),
            peak_rss_mb=round(_peak_rss_mb(), 1),
            peak_gpu_mb=_peak_gpu_mb(),
            error=error,
        )
        self.run.write_record(record)
        return record


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


def prepare_run(job: GenerationJob) -> RunInfo:
    """Create `run.json`, or check that an existing run matches this job (resume)."""
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
    )
    run = job.run
    if run.info_path.exists():
        old = run.read_info()
        for key in ("model", "adapter_version", "config", "repetition", "benchmark"):
            if getattr(old, key) != getattr(info, key):
                raise TTMBenchError(
                    f"{run.info_path} was made with {key}={getattr(old, key)!r}, this command asks "
                    f"for {getattr(info, key)!r}; its videos would mix. Use a new --out directory "
                    "(or the original settings to resume)."
                )
        return old
    run.videos.mkdir(parents=True, exist_ok=True)
    run.write_info(info)
    return info


@dataclass
class RunSummary:
    run_root: Path
    total: int
    skipped: int
    ok: int
    failed: dict[str, str]

    def describe(self) -> str:
        text = (f"{self.run_root}: {self.ok} generated, {self.skipped} already done, "
                f"{len(self.failed)} failed (of {self.total} in this shard)")
        for sample_id, error in sorted(self.failed.items()):
            text += f"\n  failed {sample_id}: {error.splitlines()[0]}"
        if self.failed:
            text += "\nrerun the same command to retry the failed samples"
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
) -> RunSummary:
    """Generate every unfinished sample of the shard; see the module docstring."""
    from ttm_bench.generation.executor import LocalExecutor

    cls = resolve_model(model)
    config = merge_config(cls, overrides or {})
    job = GenerationJob(Path(benchmark_root), Path(out), model, config, device, repetition)
    info = prepare_run(job)
    remove_stale_temporaries(job.run.videos)
    ids = shard_samples([s.id for s in job.benchmark.samples], *shard)
    pending = [s for s in ids if not job.run.is_finished(s)]
    summary = RunSummary(job.run_root, len(ids), len(ids) - len(pending), 0, {})
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
