"""Checkpoint registry: where each model file comes from, how to check it, where it lives.

Every checkpoint a metric loads is a `Checkpoint` in `CHECKPOINTS`: file name, source URLs,
sha256 (or `None` where no trustworthy published hash was found), size in bytes (or `None`),
licence, and the metrics that use it. A file is looked up, in order, at:

1. an explicit path (a metric's `checkpoint=PATH` parameter),
2. `$TTM_BENCH_WEIGHTS_DIR/<file>` (for offline machines),
3. `$TTM_BENCH_CACHE/weights/<file>` (default cache `~/.cache/ttm_bench`).

A missing or corrupt file raises `MissingWeightsError` naming the file, the places searched and
the command that fixes it; nothing ever falls back to random weights.

Downloads (`fetch`) resume a partial file with an HTTP Range request, verify the sha256 and
size, rename the file into place atomically and hold an exclusive file lock, so several
processes fetching the same checkpoint download it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.hashing import file_sha256
from ttm_bench.metrics.base import MissingWeightsError

CACHE_ENV = "TTM_BENCH_CACHE"
WEIGHTS_DIR_ENV = "TTM_BENCH_WEIGHTS_DIR"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Checkpoint:
    """One model file. `sha256=None` means no published hash could be confirmed."""

    name: str
    filename: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    licence: str
    metrics: tuple[str, ...]
    sha256_source: str = ""


CHECKPOINTS: dict[str, Checkpoint] = {
    c.name: c
    for c in (
        Checkpoint(
            name="i3d_kinetics400",
            filename="i3d_torchscript.pt",
            urls=("https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",),
            sha256=None,
            size=None,
            licence="Apache-2.0 (DeepMind Kinetics-400 I3D on TF-hub); TorchScript port by "
            "StyleGAN-V",
            metrics=("fvd16", "fvd128"),
            sha256_source="no published hash found; `weights verify` prints the local one",
        ),
        Checkpoint(
            name="clip_vit_l14_openai",
            filename="ViT-L-14.pt",
            urls=(
                "https://openaipublic.azureedge.net/clip/models/"
                "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
            ),
            sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
            size=None,
            licence="MIT (openai/CLIP)",
            metrics=("clipframe", "clipframe_consecutive"),
            sha256_source="the URL path segment, which openai/CLIP and open_clip verify",
        ),
        Checkpoint(
            name="viclip_l14",
            filename="ViClip-InternVid-10M-FLT.pth",
            urls=(
                "https://huggingface.co/OpenGVLab/ViCLIP/resolve/main/"
                "ViClip-InternVid-10M-FLT.pth",
                "https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/internvideo/viclip/"
                "ViClip-InternVid-10M-FLT.pth",
            ),
            sha256=None,
            size=None,
            licence="see the OpenGVLab/ViCLIP model card (InternVid release terms)",
            metrics=("viclip_t", "viclip_v", "viclip_v_static"),
            sha256_source="no published hash found; `weights verify` prints the local one",
        ),
        Checkpoint(
            name="raft_large",
            filename="raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            urls=("https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",),
            sha256="ff5fadd56d26b40647388883af1547351ea17868b765c05b27231e72dd16a322",
            size=None,
            licence="BSD-3-Clause (torchvision)",
            metrics=("ad_raft",),
            sha256_source="prefix ff5fadd5 from torchvision's file name; full hash as "
            "published by two independent download scripts",
        ),
        Checkpoint(
            name="laion_aesthetic_l14_linear_mse",
            filename="sac+logos+ava1-l14-linearMSE.pth",
            urls=("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                  "sac%2Blogos%2Bava1-l14-linearMSE.pth",),
            sha256=None,
            size=None,
            licence="unconfirmed here: see christophschuhmann/improved-aesthetic-predictor",
            metrics=("bench build sav128 (aesthetic score, with clip_vit_l14_openai)",),
            sha256_source="no published hash found; `weights verify` prints the local one",
        ),
        Checkpoint(
            name="cotracker3_offline",
            filename="scaled_offline.pth",
            urls=("https://huggingface.co/facebook/cotracker3/resolve/main/scaled_offline.pth",),
            sha256="2670d4562ed69326dda775a26e54883925cd11b6fc9b24cb7aa9f8078bce7834",
            size=101_890_938,
            licence="CC-BY-NC-4.0 (facebookresearch/co-tracker)",
            metrics=("ad_cotracker", "object metrics with tracker=cotracker"),
            sha256_source="several independent pinned manifests (HF revision bf55ea50)",
        ),
        *(Checkpoint(
            name=f"sam2.1_hiera_{size}",
            filename=f"sam2.1_hiera_{size}.pt",
            urls=(f"https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
                  f"sam2.1_hiera_{size}.pt",),
            sha256=None,
            size=None,
            licence="Apache-2.0 (facebookresearch/sam2)",
            metrics=("object metrics with tracker=sam2",),
            sha256_source="Meta publishes no hash for the SAM 2.1 checkpoints; "
            "`weights verify` prints the local one",
        ) for size in ("tiny", "small", "base_plus", "large")),
    )
}


def get_checkpoint(name: str) -> Checkpoint:
    if name not in CHECKPOINTS:
        raise UnknownNameError("checkpoint", name, sorted(CHECKPOINTS))
    return CHECKPOINTS[name]


def cache_dir() -> Path:
    """`$TTM_BENCH_CACHE`, default `~/.cache/ttm_bench`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ttm_bench")


def weights_cache_dir() -> Path:
    return cache_dir() / "weights"


def search_paths(ckpt: Checkpoint) -> list[Path]:
    """Where `ckpt` is looked for, in order (without an explicit path)."""
    paths = []
    if os.environ.get(WEIGHTS_DIR_ENV):
        paths.append(Path(os.environ[WEIGHTS_DIR_ENV]) / ckpt.filename)
    paths.append(weights_cache_dir() / ckpt.filename)
    return paths


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def cached_sha256(path: Path) -> str:
    """sha256 of `path`, remembered in a `.NAME.sha256` stamp keyed by size and mtime.

    Hashing a 1 GB checkpoint takes seconds; the stamp makes repeated loads free. An unwritable
    directory only costs the re-hash.
    """
    stamp = _stamp_path(path)
    key = _stat_key(path)
    with contextlib.suppress(OSError, ValueError):
        stamp_key, digest = stamp.read_text().rsplit(" ", 1)
        if stamp_key == key:
            return digest.strip()
    digest = file_sha256(path)
    with contextlib.suppress(OSError):
        stamp.write_text(f"{key} {digest}\n")
    return digest


def check_file(ckpt: Checkpoint, path: Path) -> str | None:
    """Why `path` is not a valid copy of `ckpt`, or None when it is (or cannot be checked)."""
    size = path.stat().st_size
    if ckpt.size is not None and size != ckpt.size:
        return f"size {size} bytes, expected {ckpt.size}"
    if ckpt.sha256 is not None:
        digest = cached_sha256(path)
        if digest != ckpt.sha256:
            return f"sha256 {digest}, expected {ckpt.sha256}"
    return None


def _fix_hint(ckpt: Checkpoint) -> str:
    return (f"run `ttm-bench weights fetch {ckpt.name}`, or download {ckpt.urls[0]} to "
            f"{weights_cache_dir() / ckpt.filename} (or into ${WEIGHTS_DIR_ENV}), or pass the "
            "file's path (`ttm-bench evaluate --metric-option METRIC.checkpoint=PATH`)")


def locate(name: str, checkpoint: str | os.PathLike[str] | None = None) -> Path:
    """The verified local file of checkpoint `name`; raise `MissingWeightsError` otherwise.

    checkpoint: an explicit path that overrides the search (it is verified too).
    """
    ckpt = get_checkpoint(name)
    candidates = [Path(checkpoint)] if checkpoint is not None else search_paths(ckpt)
    for path in candidates:
        if path.is_file():
            problem = check_file(ckpt, path)
            if problem:
                raise MissingWeightsError(
                    f"checkpoint {ckpt.name!r} at {path} is corrupt ({problem}); delete it and "
                    f"{_fix_hint(ckpt)}")
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise MissingWeightsError(
        f"checkpoint {ckpt.name!r} ({ckpt.filename}, used by {', '.join(ckpt.metrics)}) not "
        f"found; looked in: {looked}. Fix: {_fix_hint(ckpt)}")


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download_to(url: str, part: Path, timeout: float) -> None:
    """Append the rest of `url` to `part`, resuming from its size with an HTTP Range request.

    Raises OSError/HTTPException when the connection breaks; `part` keeps what arrived.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ttm-bench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is complete
            return
        raise
    with response:
        if have and response.status != 206:  # server ignored the Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with part.open("ab" if have else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name.strip(".")
        ) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def fetch(ckpt: Checkpoint, dest_dir: Path | None = None, *, attempts: int = 3,
          timeout: float = 60.0) -> Path:
    """Download `ckpt` into `dest_dir` (default: the weights cache) unless a valid copy is there.

    Resumable (the partial `.FILE.part` survives interruptions and is continued with a Range
    request), verified (size, sha256 when known), atomic (renamed into place only when
    verified) and locked (concurrent fetchers wait, then find the finished file).
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else weights_cache_dir()
    final = dest_dir / ckpt.filename
    part = dest_dir / f".{ckpt.filename}.part"
    with _exclusive_lock(dest_dir / f".{ckpt.filename}.lock"):
        if final.is_file() and check_file(ckpt, final) is None:
            return final
        errors: list[str] = []
        for url in ckpt.urls:
            for _ in range(attempts):
                try:
                    _download_to(url, part, timeout)
                    break
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(f"{url}: {exc!r}")
            else:
                continue
            problem = check_file(ckpt, part)
            if problem is None:
                os.replace(part, final)
                with contextlib.suppress(OSError):
                    _stamp_path(part).replace(_stamp_path(final))
                return final
            errors.append(f"{url}: downloaded file has {problem}")
            part.unlink(missing_ok=True)
            _stamp_path(part).unlink(missing_ok=True)
    kept = f"; the partial file {part} is kept and resumed on the next try" if part.exists() else ""
    raise TTMBenchError(f"could not fetch checkpoint {ckpt.name!r}: " + "; ".join(errors) + kept
                        + f". Fix: rerun `ttm-bench weights fetch {ckpt.name}` or download it "
                        f"by hand to {final}")


@dataclass(frozen=True)
class VerifyResult:
    """State of one checkpoint on this machine: status is ok/unverified/corrupt/missing."""

    checkpoint: Checkpoint
    status: str
    path: Path | None
    detail: str


def verify(ckpt: Checkpoint) -> VerifyResult:
    """Check the first copy of `ckpt` found in the search paths."""
    for path in search_paths(ckpt):
        if path.is_file():
            problem = check_file(ckpt, path)
            if problem:
                return VerifyResult(ckpt, "corrupt", path, problem)
            if ckpt.sha256 is None:
                return VerifyResult(ckpt, "unverified", path,
                                    f"no published sha256; local file has {cached_sha256(path)}")
            return VerifyResult(ckpt, "ok", path, "sha256 matches")
    looked = ", ".join(str(p) for p in search_paths(ckpt))
    return VerifyResult(ckpt, "missing", None, f"looked in {looked}")
