"""Opening a benchmark for work: check that its content still has the hash it records; and
rewriting the recorded hash (`bench rehash`).

Every command that produces numbers (generate, evaluate, study creation) opens its benchmark
with `open_benchmark`, which recomputes the content hash (`content_hash`) and refuses a
benchmark whose files or `benchmark.json` fields changed since the hash was written, so a run
or a result never records a hash the content does not have. Unchanged files are not re-read
(their digests are cached by path and `stat`), so re-opening a large benchmark costs one
`stat` per file. `verify=False` (the CLI's `--skip-verify`) skips the check; callers record
the returned status (`"verified"` or `"skipped"`) with what they write.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ttm_bench.atomic import write_json
from ttm_bench.data.benchmark import INFO_FILE, Benchmark
from ttm_bench.data.content_hash import (
    HASH_SCHEME,
    LEGACY_SCHEME,
    FileHashCache,
    content_sha256,
    legacy_content_sha256,
)
from ttm_bench.errors import Problem, TTMBenchError, ValidationError

VERIFIED = "verified"
SKIPPED = "skipped"


def hash_problem(bench: Benchmark, *, use_cache: bool = True) -> Problem | None:
    """Why `bench`'s content does not have the hash its `benchmark.json` records, or None.

    use_cache: trust cached digests of files whose size and mtime are unchanged (False re-reads
    every byte, as `bench validate` does).
    """
    info, file = bench.info, str(bench.root / INFO_FILE)
    rehash = f"run `ttm-bench bench rehash {bench.root}` (or rebuild the benchmark)"
    if info.hash_scheme == LEGACY_SCHEME:
        return Problem(file, f"its sha256 is of hash scheme {LEGACY_SCHEME}, which does not cover "
                       "the fields of benchmark.json", rehash, None, "hash_scheme")
    if not info.sha256:
        return Problem(file, "no content sha256 recorded", rehash, None, "sha256")
    cache = FileHashCache.for_directory(bench.root) if use_cache else FileHashCache(None)
    try:
        actual = content_sha256(bench.root, info.to_dict(), cache)
    except ValidationError as exc:
        return exc.problems[0]
    if actual == info.sha256:
        return None
    return Problem(file, f"sha256 {info.sha256[:12]}… does not match the content "
                   f"({actual[:12]}…): the manifest, an asset or a field of benchmark.json "
                   "changed after the hash was written", "restore the original files; for an "
                   f"intended change, bump `version` and run `ttm-bench bench rehash "
                   f"{bench.root} --force`", None, "sha256")


def open_benchmark(root: str | Path, *, verify: bool = True) -> tuple[Benchmark, str]:
    """Load the benchmark at `root` and verify its content hash (unless `verify` is False).

    Returns the benchmark and the verification status to record (`VERIFIED` or `SKIPPED`);
    raises `ValidationError` when the content does not match.
    """
    bench = Benchmark.load(root)
    if not verify:
        return bench, SKIPPED
    problem = hash_problem(bench)
    if problem is not None:
        raise ValidationError([problem])
    return bench, VERIFIED


def rehash_benchmark(root: str | Path, *, force: bool = False) -> tuple[str, str]:
    """Rewrite `benchmark.json`'s hash in the current scheme; return (old, new) sha256.

    The recorded hash is checked first (in its own scheme), so a rehash upgrades a scheme-v1
    benchmark without blessing files that changed since it was hashed; `force` accepts such
    changes (bump the benchmark's `version` with them).
    """
    bench = Benchmark.load(root)
    info = bench.info
    if info.sha256 and not force:
        if info.hash_scheme == LEGACY_SCHEME:
            actual = legacy_content_sha256(bench.root)
            problem = None if actual == info.sha256 else Problem(
                str(bench.root / INFO_FILE), f"sha256 {info.sha256[:12]}… ({LEGACY_SCHEME}) does "
                f"not match the content ({actual[:12]}…)", "", None, "sha256")
        else:
            problem = hash_problem(bench, use_cache=False)
        if problem is not None:
            raise TTMBenchError(f"{problem.file}: {problem.message}; the content changed after "
                                "the hash was written. Restore the original files, or, if the "
                                "change is intended, bump `version` in benchmark.json and pass "
                                "--force")
    new = replace(info, hash_scheme=HASH_SCHEME, sha256="")
    new = replace(new, sha256=content_sha256(bench.root, new.to_dict(),
                                             FileHashCache.for_directory(bench.root)))
    write_json(bench.root / INFO_FILE, new.to_dict())
    return info.sha256, new.sha256
