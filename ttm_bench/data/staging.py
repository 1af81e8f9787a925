"""Writing a benchmark directory all at once: build in a hidden sibling, then rename.

An interrupted or failed build leaves no half-written benchmark under the final name, and a
benchmark never mixes files from two builds (its hash covers every file in it).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from ttm_bench.errors import TTMBenchError


def check_output_free(out: Path) -> None:
    """Raise unless `out` does not exist or is an empty directory (call before long work)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TTMBenchError(f"{out} exists and is not empty; choose a new --out or delete it")


@contextlib.contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """Yield `.<name>.building` beside `out`; on success rename it to `out`, else delete it.

    `out` must not exist or be empty.
    """
    check_output_free(out)
    staging = out.parent / f".{out.name}.building"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
