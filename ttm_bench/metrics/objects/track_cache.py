"""Disk cache of object tracks: what every object metric reads from one tracking run.

Tracking a video (DIS flow both ways, SAM2, CoTracker) costs far more than reducing its tracks,
so the tracks of each (video content, first-frame masks, tracking preset) are kept at
`$TTM_BENCH_CACHE/object_tracks/<tracking_hash>/<key[:2]>/<key>.npz`, where `tracking_hash`
pins the tracker, its parameters and its weights, and `key` = sha256(video sha256, masks
sha256). Re-evaluating a run, or adding an object metric later, then tracks nothing again.

An entry holds the tracks in the form the metrics read (`binarised`): the displacement rows
(float64) and the tracked (and, for the `flow` tracker, carried) masks thresholded at
`MASK_THRESHOLD`, packed 8 per byte (`np.packbits`), about T·L·H·W/8 bytes each (2 MB for 49
frames of 3 objects at 256×455).

Robustness:
- an entry carries the sha256 of its key and arrays; one that fails to load or to match it
  (truncated, edited, or another entry copied in its place) is recomputed and rewritten, never
  trusted, with a warning;
- writes are atomic (`atomic.atomic_path`): two processes filling one entry each write a whole
  file and the last rename wins; a reader sees a whole file or none;
- an unwritable cache directory costs only the recomputation, with one warning per cache.

`MemoryTrackCache` keeps the same entries (packed) in memory instead, for callers that must
not write to disk (the torchmetrics classes): metrics updated one after the other on the same
batch then share each video's tracking.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ttm_bench.atomic import atomic_path
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.objects.tracks import MASK_THRESHOLD, ObjectTracks
from ttm_bench.weights import cache_dir

_ROWS = ("object_displacement", "background_displacement", "frame_displacement",
         "object_motion")
_MASKS = ("masks", "carried")
_DIGEST = "sha256"


def binarised(tracks: ObjectTracks) -> ObjectTracks:
    """`tracks` with masks (and carried masks) thresholded at `MASK_THRESHOLD` (float32 0/1):
    what the cache keeps and what every metric reads, so a cached and a fresh tracking give
    equal numbers."""
    def threshold(masks: np.ndarray | None) -> np.ndarray | None:
        return None if masks is None else (masks >= MASK_THRESHOLD).astype(np.float32)

    if tracks.masks is None and tracks.carried is None:
        return tracks
    return ObjectTracks(threshold(tracks.masks), *(getattr(tracks, name) for name in _ROWS),
                        carried=threshold(tracks.carried))


def to_arrays(tracks: ObjectTracks) -> dict[str, np.ndarray]:
    """The arrays of an entry (without its digest); masks packed 8 per byte."""
    arrays = {name: np.asarray(getattr(tracks, name), np.float64) for name in _ROWS}
    for name in _MASKS:
        masks = getattr(tracks, name)
        if masks is not None:
            arrays[f"{name}_shape"] = np.array(masks.shape, np.int64)
            arrays[f"packed_{name}"] = np.packbits(masks >= MASK_THRESHOLD, axis=None)
    return arrays


def from_arrays(arrays: Mapping[str, np.ndarray]) -> ObjectTracks:
    """The tracks of an entry's arrays (the inverse of `to_arrays` after `binarised`)."""
    def unpack(name: str) -> np.ndarray | None:
        if f"packed_{name}" not in arrays:
            return None
        shape = tuple(int(d) for d in arrays[f"{name}_shape"])
        bits = np.unpackbits(arrays[f"packed_{name}"], count=int(np.prod(shape)))
        return bits.reshape(shape).astype(np.float32)

    return ObjectTracks(unpack("masks"), *(arrays[name] for name in _ROWS),
                        carried=unpack("carried"))


def arrays_sha256(arrays: Mapping[str, np.ndarray], salt: str = "") -> str:
    """sha256 over `salt`, then each array's name and `array_sha256` (dtype, shape, bytes), in
    name order."""
    digest = hashlib.sha256(salt.encode())
    for name in sorted(arrays):
        digest.update(f"{name}\0{array_sha256(arrays[name])}\0".encode())
    return digest.hexdigest()


def entry_key(video_sha256: str, masks_sha256: str) -> str:
    """The entry of one video with one set of first-frame masks (content hashes)."""
    return hashlib.sha256(f"{video_sha256}\0{masks_sha256}".encode()).hexdigest()


class TrackCache:
    """Object tracks on disk; `root=None` disables caching. `hits`, `misses` and `rejected`
    (entries that failed their check) count lookups."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0
        self.rejected = 0
        self._unwritable = False

    @classmethod
    def default(cls) -> TrackCache:
        return cls(cache_dir() / "object_tracks")

    def path(self, key: str, tracking_hash: str) -> Path:
        assert self.root is not None
        return self.root / tracking_hash / key[:2] / f"{key}.npz"

    def get(self, key: str, tracking_hash: str) -> ObjectTracks | None:
        """The cached tracks, or None when absent, disabled, unreadable or failing its check."""
        if self.root is None:
            return None
        path = self.path(key, tracking_hash)
        try:
            with np.load(path, allow_pickle=False) as entry:
                arrays = {name: entry[name] for name in entry.files}
            expected = str(arrays.pop(_DIGEST))
            matches = arrays_sha256(arrays, f"{tracking_hash}/{key}") == expected
            tracks = from_arrays(arrays) if matches else None
        except (FileNotFoundError, NotADirectoryError):
            self.misses += 1
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            problem = f"cannot be read ({exc})"
        else:
            if tracks is not None:
                self.hits += 1
                return tracks
            problem = "does not match its sha256 (edited or damaged)"
        self.rejected += 1
        self.misses += 1
        warnings.warn(f"object-track cache entry {path} {problem}; tracking the video again "
                      "and replacing it", RuntimeWarning, stacklevel=2)
        return None

    def put(self, key: str, tracking_hash: str, tracks: ObjectTracks) -> None:
        """Store `tracks` (atomically); a no-op when disabled, a warning when unwritable."""
        if self.root is None or self._unwritable:
            return
        arrays = to_arrays(tracks)
        arrays[_DIGEST] = np.array(arrays_sha256(arrays, f"{tracking_hash}/{key}"))
        try:
            with atomic_path(self.path(key, tracking_hash)) as tmp:
                np.savez(tmp, **arrays)
        except OSError as exc:
            self._unwritable = True
            warnings.warn(f"object-track cache {self.root} cannot be written ({exc}); object "
                          "metrics track every video again on the next evaluation (set "
                          "$TTM_BENCH_CACHE to a writable folder to keep them)", RuntimeWarning,
                          stacklevel=2)


class MemoryTrackCache:
    """The entries of `TrackCache`, packed, in memory: the `capacity` most recently used."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], dict[str, np.ndarray]] = OrderedDict()

    def __getstate__(self) -> dict[str, object]:
        """Copies (pickling, `clone()`) start empty."""
        return {"capacity": self.capacity, "_entries": OrderedDict()}

    def get(self, key: str, tracking_hash: str) -> ObjectTracks | None:
        arrays = self._entries.get((key, tracking_hash))
        if arrays is None:
            return None
        self._entries.move_to_end((key, tracking_hash))
        return from_arrays(arrays)

    def put(self, key: str, tracking_hash: str, tracks: ObjectTracks) -> None:
        self._entries[key, tracking_hash] = to_arrays(tracks)
        self._entries.move_to_end((key, tracking_hash))
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
