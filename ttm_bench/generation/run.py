"""The run directory contract: one model on one benchmark.

Layout: `run.json` (`RunInfo`) and, per sample, `videos/<sample_id>.mp4` with the sidecar
`videos/<sample_id>.json` (`SampleRecord`), plus `trajectories/<sample_id>.json` when the model
returned the per-object masks it generated the video from (`GeneratedVideo.trajectory`, in the
masklets format of `ttm_bench.data.masklets`, at the benchmark's frames and size). A video or
trajectory appears only when complete (atomic rename), and the sidecar, which records both
sha256, is written after them, so "sidecar says ok and its files exist" means finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ttm_bench.atomic import remove_stale_temporaries, write_json
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.fields import COUNT, NONEMPTY_STRING, OBJECT, STRING, FieldReader

RUN_FILE = "run.json"
VIDEOS_DIR = "videos"
TRAJECTORIES_DIR = "trajectories"
_REGENERATE = "regenerate the run into a new directory with `ttm-bench generate`"


@dataclass(frozen=True)
class RunInfo:
    """`run.json`: what produced the videos. `benchmark` holds name, version and sha256;
    `benchmark_verification` says whether its content hash was checked ("verified") or not
    ("skipped", `--skip-verify`) when the videos were generated."""

    model: str
    adapter_version: str
    config: dict[str, Any]
    seed_policy: str
    repetition: int
    benchmark: dict[str, str]
    code_version: str
    started: str
    finished: str | None = None
    benchmark_verification: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, file: str) -> RunInfo:
        """Check the fields of a parsed run.json; raise `ValidationError` with every problem."""
        if not isinstance(data, dict):
            raise ValidationError([Problem(file, "must be a JSON object", _REGENERATE)])
        fields = FieldReader(data, file, [], fix=_REGENERATE)
        benchmark = fields.get("benchmark", OBJECT)
        if benchmark is not None:
            nested = fields.nested(benchmark, "benchmark")
            for key in ("name", "version", "sha256"):
                nested.get(key, NONEMPTY_STRING)
        for key, kind in (("model", NONEMPTY_STRING), ("adapter_version", STRING),
                          ("config", OBJECT), ("seed_policy", STRING), ("repetition", COUNT),
                          ("code_version", STRING), ("started", STRING)):
            fields.get(key, kind)
        fields.get("finished", STRING, None, nullable=True)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            fields.problem("", f"unknown field(s) {unknown}")
        if fields.problems:
            raise ValidationError(fields.problems)
        return cls(**data)

    @property
    def identity(self) -> str:
        """sha256 of this run.json's content except `finished` (which a resume adds): results
        name the run by it, so two runs are never confused by their folder names."""
        content = {k: v for k, v in self.to_dict().items() if k != "finished"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class SampleRecord:
    """A sidecar: how one sample's video was made, or why it was not.

    status: "ok" or "failed". seconds: wall time of `generate` plus encoding.
    peak_rss_mb: process peak resident memory so far; peak_gpu_mb: torch CUDA peak, if any.
    video_sha256: sha256 of the finished mp4, checked by evaluation before decoding; None for a
    failed sample and in sidecars written before ttm-bench recorded it (evaluated unverified).
    trajectory_sha256: sha256 of `trajectories/<sample_id>.json`; None when the model returned
    no trajectory (then the sample has none, whatever file may lie there).
    """

    sample_id: str
    status: str
    seed: int
    frames: int
    fps: float
    height: int
    width: int
    seconds: float
    peak_rss_mb: float
    peak_gpu_mb: float | None = None
    error: str | None = None
    video_sha256: str | None = None
    trajectory_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class RunDir:
    """Paths and records of a run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def info_path(self) -> Path:
        return self.root / RUN_FILE

    @property
    def videos(self) -> Path:
        return self.root / VIDEOS_DIR

    def video_path(self, sample_id: str) -> Path:
        return self.videos / f"{sample_id}.mp4"

    def sidecar_path(self, sample_id: str) -> Path:
        return self.videos / f"{sample_id}.json"

    @property
    def trajectories(self) -> Path:
        return self.root / TRAJECTORIES_DIR

    def trajectory_path(self, sample_id: str) -> Path:
        return self.trajectories / f"{sample_id}.json"

    def remove_stale_temporaries(self, sample_ids: Sequence[str]) -> None:
        """Delete the temporaries killed writers left for these samples (only theirs: other
        shards may be writing into the same directories)."""
        for directory in (self.videos, self.trajectories):
            remove_stale_temporaries(directory, sample_ids)

    def read_info(self) -> RunInfo:
        """Read and check `run.json`; every problem in it is reported at once."""
        if not self.root.is_dir():
            what = "is a file" if self.root.exists() else "does not exist"
            raise TTMBenchError(f"run directory {self.root} {what}; pass the directory "
                                "`ttm-bench generate --out` created")
        try:
            data = json.loads(self.info_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TTMBenchError(f"{self.info_path} not found: {self.root} is not a run "
                                "directory; create one with `ttm-bench generate`") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TTMBenchError(f"{self.info_path} is not valid JSON ({exc}); "
                                f"{_REGENERATE}") from None
        return RunInfo.from_dict(data, str(self.info_path))

    def write_info(self, info: RunInfo) -> None:
        write_json(self.info_path, info.to_dict())

    def read_record(self, sample_id: str) -> SampleRecord | None:
        path = self.sidecar_path(sample_id)
        try:
            return SampleRecord(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, TypeError) as exc:
            raise TTMBenchError(f"sidecar {path} is corrupt ({exc}); delete it and rerun "
                                "`ttm-bench generate` to regenerate that sample") from exc

    def write_record(self, record: SampleRecord) -> None:
        write_json(self.sidecar_path(record.sample_id), record.to_dict())

    def finished_record(self, sample_id: str) -> SampleRecord | None:
        """The sidecar of a finished sample (status ok and its mp4 present), else None."""
        record = self.read_record(sample_id)
        ok = record is not None and record.ok and self.video_path(sample_id).is_file()
        return record if ok else None

    def is_finished(self, sample_id: str) -> bool:
        """Finished, and the trajectory its sidecar records (if any) is there: a sample whose
        trajectory was deleted is generated again."""
        record = self.finished_record(sample_id)
        return record is not None and (record.trajectory_sha256 is None
                                       or self.trajectory_path(sample_id).is_file())
