"""The visual HTML report: a self-contained folder with `index.html` and `assets/`.

The page holds the leaderboard, the plots (`plots`: SVG files) and the video gallery
(`gallery`), with `report.js`/`report.css` from `ttm_bench/report/static`. Every file the page
uses lies under `assets/` and is referenced by a relative path, so the folder opens from disk
(file://) or from any static server, offline. Text from results and benchmarks is escaped by
the template engine.

Writing owns `index.html` and `assets/` inside `--out` and nothing else there: the new assets are
built in a temporary folder beside them and swapped in, then `index.html` is replaced atomically;
an `assets/` or `index.html` that a report did not write is never touched. One writer at a time
holds a lock on the folder.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ttm_bench import __version__
from ttm_bench.atomic import write_text
from ttm_bench.data.sample import ALL_SPLIT
from ttm_bench.errors import TTMBenchError
from ttm_bench.report import gallery, plots
from ttm_bench.report.leaderboard import (
    HTML_CSS,
    Leaderboard,
    build_leaderboard,
    render_html_section,
    split_title,
)
from ttm_bench.report.results import Results, load_per_sample, load_results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ASSETS = "assets"
INDEX = "index.html"
#: A file in `assets/` that says a report wrote the folder (so a rewrite may replace it).
MARKER = ".ttm-bench-report"
GENERATOR = f"ttm-bench {__version__}"
STATIC_FILES = ("report.css", "report.js")
#: Axes of the motion–consistency plane, in order of preference.
MOTION_METRICS = ("ad_raft", "ad_cotracker", "ad_dis")
CONSISTENCY_METRICS = ("clipframe", "viclip_v")


@dataclass(frozen=True)
class Plot:
    """A plot file (relative to the report folder; None: the plot could not be drawn and the
    caption says why) with its title and caption."""

    src: str | None
    title: str
    caption: str


@dataclass(frozen=True)
class ReportInputs:
    """Everything the page shows, read from the results directories (and the benchmark and
    video folders they name)."""

    results: tuple[Results, ...]
    board: Leaderboard
    metrics: tuple[str, ...]  # metrics computed by at least one run, in leaderboard order
    splits: tuple[str, ...]  # splits of the plots, `all` last
    values: tuple[dict[str, dict[str, float]], ...]  # per run: sample → metric → value
    samples: tuple[gallery.SampleEntry, ...]
    videos: tuple[gallery.VideoSource | None, ...]  # per run
    notes: tuple[str, ...]
    read_from: tuple[Path, ...] = ()  # every folder read: the report never writes inside one


def read_inputs(results_dirs: Sequence[str | os.PathLike[str]], *, bench: Path | None = None,
                videos: Mapping[str, Path] | None = None, splits: Sequence[str] | None = None,
                metrics: Sequence[str] | None = None) -> ReportInputs:
    """Load and check the results; find the benchmark (`bench`, else the one the results
    record) and each run's video folder (`videos[run]`, else the recorded run's `videos/`)."""
    results = tuple(load_results(d) for d in results_dirs)
    board = build_leaderboard(results, splits=splits, metrics=metrics)  # checks compatibility
    unknown = sorted(set(videos or {}) - {r.run for r in results})
    if unknown:
        raise TTMBenchError(f"--videos names run(s) {unknown}, which are not among the results "
                            f"({', '.join(r.run for r in results)})")
    shown = tuple(p.metric for p in board.presets if any(p.metric in r.metrics for r in results))
    available = list(dict.fromkeys(s for r in results for s in r.splits))
    chosen = list(board.splits) if splits is not None else (
        [s for s in available if s != ALL_SPLIT] + [s for s in available if s == ALL_SPLIT])
    tables = [load_per_sample(r) for r in results]
    values = tuple(gallery.sample_values(t) for t in tables)
    notes: list[str] = []
    bench_dir = bench or _recorded(results[0], "benchmark")
    samples: list[gallery.SampleEntry] | None = None
    if results[0].benchmark is not None and bench_dir is None:
        notes.append(f"the results record no benchmark folder, so the gallery has no input "
                     f"images or captions; pass --bench DIR ({results[0].benchmark.tag})")
    elif results[0].benchmark is not None:
        samples = _benchmark_samples(bench_dir, results[0], notes)
    if samples is None:
        samples = gallery.samples_from_tables(tables)
    sources = tuple(gallery.VideoSource(videos[r.run]) if r.run in (videos or {})
                    else _video_source(r, notes) for r in results)
    read_from = [r.directory for r in results] + [v.folder for v in sources if v is not None]
    read_from += [p for r in results if (p := _recorded(r, "run")) is not None]
    read_from += [bench_dir] if bench_dir is not None else []
    return ReportInputs(results, board, shown, tuple(chosen), values, tuple(samples), sources,
                        tuple(notes), tuple(read_from))


def _recorded(results: Results, key: str) -> Path | None:
    return Path(results.source[key]) if key in results.source else None


def _video_source(results: Results, notes: list[str]) -> gallery.VideoSource | None:
    """The recorded run's videos, with the hashes its sidecars record, if the run directory
    still holds the run that was evaluated; else None, with a note."""
    from ttm_bench.generation.run import RunDir

    fix = f"pass --videos {results.run}=DIR"
    if "videos" in results.source:
        return gallery.VideoSource(Path(results.source["videos"]))
    if "run" not in results.source:
        notes.append(f"run {results.run!r}: its results record no video folder, so the gallery "
                     f"shows its values without videos; {fix}")
        return None
    run = RunDir(results.source["run"])
    if not run.info_path.is_file():
        notes.append(f"run {results.run!r}: run directory {run.root} is gone, so the gallery "
                     f"shows its values without videos; {fix}")
        return None
    if results.run_sha256 is not None and run.read_info().identity != results.run_sha256:
        notes.append(f"run {results.run!r}: {run.root} now holds another run than the one "
                     f"evaluated (its run.json changed), so its videos are left out; {fix}")
        return None
    sidecars = sorted(run.videos.glob("*.json"))  # the run's own names: nothing outside it
    records = {p.stem: r for p in sidecars if (r := run.finished_record(p.stem)) is not None}
    return gallery.VideoSource(run.videos, {sid: r.video_sha256 for sid, r in records.items()})


def _benchmark_samples(bench_dir: Path, results: Results,
                       notes: list[str]) -> list[gallery.SampleEntry] | None:
    from ttm_bench.data.benchmark import Benchmark

    expected = results.benchmark
    if not (bench_dir / "benchmark.json").is_file():
        notes.append(f"benchmark {expected.tag} not found at {bench_dir}, so the gallery has no "
                     "input images or captions; pass --bench DIR")
        return None
    bench = Benchmark.load(bench_dir)
    if bench.info.sha256 != expected.sha256:
        raise TTMBenchError(
            f"{bench_dir} is {bench.info.tag} (sha256 {bench.info.sha256[:12]}…), but the "
            f"results were evaluated on {expected.tag} (sha256 {expected.sha256[:12]}…); pass "
            "the benchmark the runs were evaluated on with --bench DIR")
    return gallery.samples_from_benchmark(bench)


def build_plots(inputs: ReportInputs, folder: Path, prefix: str) -> list[Plot]:
    """Write every plot's SVG into `folder`; return them with paths under `prefix`."""
    runs = [r.run for r in inputs.results]
    titles = [split_title(s) for s in inputs.splits]
    info = {c.metric: c for c in inputs.board.columns}
    made: list[Plot] = []

    def save(name: str, figure: Figure, title: str, caption: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(plots.to_svg(figure), encoding="utf-8")
        made.append(Plot(f"{prefix}/{name}", title, caption))

    level = inputs.board.ci_level
    ci = (f"{level:.0%} " if level is not None else "") + "bootstrap confidence interval"
    for k, metric in enumerate(inputs.metrics):
        rows = [[r.row(s, metric) for s in inputs.splits] for r in inputs.results]
        header = info[metric].header
        save(f"metric-{k}.svg", plots.metric_figure(runs, inputs.splits, titles, rows, header),
             header, f"{header} per run and split: the value with its {ci}. "
                     + _direction(info[metric].higher_is_better))
    x = next((m for m in MOTION_METRICS if m in inputs.metrics), None)
    y = next((m for m in CONSISTENCY_METRICS if m in inputs.metrics), None)
    if x is not None and y is not None:
        xs = [r.row(ALL_SPLIT, x) for r in inputs.results]
        ys = [r.row(ALL_SPLIT, y) for r in inputs.results]
        x_label, y_label = info[x].label, info[y].label
        save("plane.svg", plots.plane_figure(runs, xs, ys, x_label, y_label),
             f"Motion–consistency plane: {x_label} against {y_label}",
             f"Each run at ({x_label}, {y_label}) over all samples, with its {ci} on both axes. "
             f"A static video has {x_label} 0 and the highest consistency, so the floor sits on "
             f"the dashed line at {x_label} = 0: read motion together with consistency, never "
             "alone.")
    else:
        have = ", ".join(inputs.metrics) or "none"
        made.append(Plot(None, "Motion–consistency plane",
                         "Not drawn: it needs a motion metric (" + ", ".join(MOTION_METRICS)
                         + ") and a consistency metric (" + ", ".join(CONSISTENCY_METRICS)
                         + f") in the results; these have {have}. Evaluate with "
                         "`--metrics clipframe` (or viclip_v) to add one."))
    samples = [s.sample_id for s in inputs.samples]
    for k, metric in enumerate(inputs.metrics):
        header = info[metric].header
        spread = plots.per_run_values(inputs.values, metric, samples)
        if not any(len(v) for v in spread):
            continue  # set-level metrics (FVD) have no per-sample values
        save(f"distribution-{k}.svg", plots.distribution_figure(runs, spread, header),
             f"{header}: per-sample distribution",
             f"Per-sample {header} of every run over all samples: the box spans the quartiles "
             "with the median, whiskers reach 1.5 IQR, and each point is one sample.")
    return made


def _direction(higher_is_better: bool | None) -> str:
    return {True: "Higher is better.", False: "Lower is better.",
            None: "No direction is better."}[higher_is_better]


def render_page(inputs: ReportInputs, plots_made: Sequence[Plot],
                rows: Sequence[gallery.GalleryRow], notes: Sequence[str]) -> str:
    """The page's HTML (escaped by the template engine)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ttm_bench.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["number"] = format_value
    per_sample = [m for m in inputs.metrics if any(m in v for t in inputs.values
                                                   for v in t.values())]
    labels = {c.metric: c.header for c in inputs.board.columns}
    return env.get_template("report.html.j2").render(
        title="Report: " + (inputs.board.benchmark.tag if inputs.board.benchmark
                            else "videos, no benchmark"),
        generator=GENERATOR,
        assets=ASSETS,
        leaderboard=Markup(render_html_section(inputs.board)),
        leaderboard_css=Markup(HTML_CSS),
        runs=inputs.results,
        plots=plots_made,
        rows=rows,
        row_values=[json.dumps([c.values for c in row.cells], sort_keys=True,
                               allow_nan=False) for row in rows],
        splits=list(dict.fromkeys(r.split for r in rows)),
        metrics=[(m, labels[m]) for m in per_sample],
        notes=notes,
    )


def format_value(value: float) -> str:
    """A per-sample value with 4 significant digits (`—` when not finite)."""
    return f"{value:.4g}" if math.isfinite(value) else "—"


def write_report(results_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                 bench: Path | None = None, videos: Mapping[str, Path] | None = None,
                 splits: Sequence[str] | None = None,
                 metrics: Sequence[str] | None = None) -> Path:
    """Write the report for `results_dirs` into `out`; return the path of its index.html."""
    inputs = read_inputs(results_dirs, bench=bench, videos=videos, splits=splits,
                         metrics=metrics)
    return write_report_folder(inputs, Path(out))


def write_report_folder(inputs: ReportInputs, out: Path) -> Path:
    """Write `out/index.html` and `out/assets/` for `inputs`; return the index's path."""
    for folder in inputs.read_from:
        if out.resolve().is_relative_to(folder.resolve()):
            raise TTMBenchError(f"--out {out} lies inside {folder}, which the report reads "
                                "(a benchmark, run or results directory must not change); "
                                "choose a folder outside it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        _check_owned(out)
        with _lock(out), _staged_assets(out) as staging:
            plots_made = build_plots(inputs, staging / "plots", f"{ASSETS}/plots")
            media = gallery.collect_media(inputs.samples, inputs.videos,
                                          [r.run for r in inputs.results], staging / "media",
                                          f"{ASSETS}/media")
            rows = gallery.gallery_rows(inputs.samples, inputs.values, media.images,
                                        media.videos)
            static = resources.files("ttm_bench.report") / "static"
            for name in STATIC_FILES:
                (staging / name).write_bytes((static / name).read_bytes())
            page = render_page(inputs, plots_made, rows, [*inputs.notes, *media.notes])
        write_text(out / INDEX, page)
    except OSError as exc:
        raise TTMBenchError(f"writing the report to {out} failed: {exc}; check that --out is "
                            "writable and the videos and images are readable") from None
    return out / INDEX


def _check_owned(out: Path) -> None:
    """Refuse an `index.html` or `assets/` in `out` that no report wrote."""
    assets, index = out / ASSETS, out / INDEX
    if assets.exists() and not (assets / MARKER).is_file():
        raise TTMBenchError(f"{assets} exists and was not written by `ttm-bench report`; "
                            "choose another --out or remove it")
    if index.exists() and f'content="{GENERATOR.split()[0]}' not in index.read_text(
            encoding="utf-8", errors="replace")[:2048]:
        raise TTMBenchError(f"{index} exists and was not written by `ttm-bench report`; "
                            "choose another --out or remove it")


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder itself (no lock file is left in the report)."""
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TTMBenchError(f"another `ttm-bench report` is writing {out}; wait for it "
                                "or choose another --out") from None
        yield
    finally:
        os.close(descriptor)


@contextmanager
def _staged_assets(out: Path) -> Iterator[Path]:
    """A fresh folder that replaces `out/assets` when the block succeeds (left-overs of killed
    writers are removed first; the lock makes that safe)."""
    for stale in out.glob(f".{ASSETS}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = out / f".{ASSETS}.new-{os.getpid()}"
    staging.mkdir()
    try:
        (staging / MARKER).write_text(GENERATOR + "\n", encoding="utf-8")
        yield staging
        old = out / f".{ASSETS}.old"
        if (out / ASSETS).exists():
            os.replace(out / ASSETS, old)
        os.replace(staging, out / ASSETS)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
