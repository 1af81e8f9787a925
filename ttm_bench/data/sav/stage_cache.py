"""Resumable per-item stage outputs: one JSON record per line, keyed by item id.

A stage appends one record per finished item and flushes it at once, so a killed build loses at
most the item in progress; rerunning skips every item already recorded. The first line is a
header holding the stage name and a hash of the configuration that produced the records: when
the configuration changes (another model, prompt or threshold) the old records no longer
describe this build, and the cache starts afresh instead of mixing the two.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ttm_bench.atomic import write_text
from ttm_bench.errors import TTMBenchError


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (hex) of `config` serialised as key-sorted JSON."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StageCache:
    """The records of one stage in `path` (JSONL), valid for one configuration.

    Records are dicts with an `"id"` key. A truncated last line (a process killed while
    writing) is ignored and rewritten by the next run.
    """

    def __init__(self, path: str | os.PathLike[str], stage: str, config: dict[str, Any]):
        self.path = Path(path)
        self.stage = stage
        self.config_hash = config_hash(config)
        self._header = {"stage": stage, "config_hash": self.config_hash, "config": config}
        self._file_is_clean = False  # the file is exactly header + records, newline-terminated
        self.records: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        lines = self.path.read_text(encoding="utf-8").split("\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            return {}
        if header.get("stage") != self.stage or header.get("config_hash") != self.config_hash:
            return {}  # another configuration: start afresh (rewritten on the first add)
        records: dict[str, dict[str, Any]] = {}
        body = lines[1:]
        self._file_is_clean = body[-1:] == [""]
        for number, line in enumerate(body[:-1] if self._file_is_clean else body, start=2):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break  # the line a killed process was writing
                raise TTMBenchError(
                    f"{self.path}:{number}: corrupt stage record; delete {self.path} to "
                    f"recompute the {self.stage!r} stage"
                ) from None
            records[str(record["id"])] = record
        return records

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self.records.get(item_id)

    def add(self, record: dict[str, Any]) -> None:
        """Record one finished item (a dict with `"id"`) durably."""
        if not self._file_is_clean:
            self._rewrite()
        self.records[str(record["id"])] = record
        with self.path.open("a", encoding="utf-8") as f:
            f.write(_dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _rewrite(self) -> None:
        """Write this header and the records loaded so far, dropping stale or truncated lines."""
        lines = [_dumps(self._header)] + [_dumps(r) for r in self.records.values()]
        write_text(self.path, "\n".join(lines) + "\n")
        self._file_is_clean = True


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
