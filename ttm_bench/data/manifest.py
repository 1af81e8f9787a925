"""Stream `manifest.jsonl`: one `Sample` per line, read one line at a time.

Each line is decoded as UTF-8 and parsed as strict JSON (no NaN or infinity) on its own, so a
bad line becomes one located `Problem` (file, line, field, fix) and memory does not grow with
the file beyond the set of ids seen (for duplicate detection).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ttm_bench import strict_json
from ttm_bench.data.sample import Sample, parse_sample
from ttm_bench.errors import Problem


def read_manifest(path: Path, problems: list[Problem]) -> Iterator[tuple[int, Sample]]:
    """(line number, sample) for every valid line of `path`; problems for the others."""
    file = str(path)
    if not path.is_file():
        problems.append(Problem(file, "file not found",
                                "write one Sample JSON object per line (see the README)"))
        return
    seen: dict[str, int] = {}
    n_problems = len(problems)
    with open(path, "rb") as lines:
        for line_no, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                problems.append(Problem(file, f"not UTF-8 text (byte {raw[exc.start]:#04x} at "
                                        f"column {exc.start + 1})", "save the manifest as "
                                        "UTF-8", line_no))
                continue
            if not text.strip():
                continue
            data = strict_json.loads(text, file, problems, line_no,
                                     "fix the line so it is one JSON object")
            sample = None if data is None else parse_sample(data, file, line_no, problems)
            if sample is None:
                continue
            if sample.id in seen:
                problems.append(Problem(file, f"duplicate sample id {sample.id!r} (first on "
                                        f"line {seen[sample.id]})",
                                        "give every sample a unique id", line_no, "id"))
                continue
            seen[sample.id] = line_no
            yield line_no, sample
    if not seen and len(problems) == n_problems:
        problems.append(Problem(file, "manifest has no samples", "add at least one sample"))
