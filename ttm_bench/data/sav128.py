"""SA-V-128, built from the SA-V training set by the paper's protocol (supplementary §11).

Stages, each with a cached, resumable output in the work directory (default `<out>.build/`):

1. `index.jsonl`    pair videos with manual annotations; keep the manual masklets visible in
                    frame 0 whose mask, after the clip's centre crop and resize, covers at least
                    `min_area_fraction` of the frame (default 1 %); count them (1 → single,
                    ≥ 2 → multi, 0 → excluded). Videos shorter than the clip are excluded.
2. `captions.jsonl` caption + category of every candidate by a VLM from its first, middle and
                    last frames (`captioning.py`); an answer without a valid category excludes
                    the video.
3. `scores.jsonl`   aesthetic and motion scores of the clip (`scoring.py`).
4. `selection.json` the category loop and the seeded 64 + 64 draw (`selection.py`), with every
                    candidate's category and scores and every exclusion and its reason.
5. `short_captions.jsonl` a caption of the clip (frames 0 .. num_frames-1) for each drawn video.
6. the benchmark directory: clips cut to `num_frames` from the start at SA-V's native 24 fps,
   centre-cropped and resized to `size`; first frames; s(0) masks from the kept masklets;
   the short caption as `caption`, the whole-video caption in `meta`; `selection.json`.

Rerunning the same command resumes: finished items are read from the caches. A changed
setting invalidates only the stages it affects (each cache records its configuration).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ttm_bench.atomic import write_json
from ttm_bench.data.benchmark import Benchmark, write_benchmark
from ttm_bench.data.clips import fit_mask, fit_video, write_clip
from ttm_bench.data.masks import decode_rle, encode_rle, mask_area
from ttm_bench.data.sample import RLE, BenchmarkInfo, ObjectSpec, Sample
from ttm_bench.data.sampling import seeded_draw
from ttm_bench.data.sav.captioning import (
    CATEGORY_PROMPT,
    SHORT_CAPTION_PROMPT,
    InvalidAnswerError,
    VisionLanguageModel,
    frame_strip,
    parse_answer,
)
from ttm_bench.data.sav.scoring import AestheticScorer, MotionScorer
from ttm_bench.data.sav.selection import (
    CATEGORIES,
    MULTI,
    SINGLE,
    Candidate,
    Selection,
    SelectionProtocol,
    select,
)
from ttm_bench.data.sav.source import SAV_FPS, discover, parse_annotation
from ttm_bench.data.sav.stage_cache import StageCache
from ttm_bench.data.staging import check_output_free, staged_directory
from ttm_bench.errors import Problem, ValidationError
from ttm_bench.video import VideoDecodeError, probe_video, read_video

NAME, VERSION = "sa-v-128", "1"
LICENCE = ("CC BY 4.0 — clips and masks from the SA-V dataset (Meta AI, "
           "https://ai.meta.com/datasets/segment-anything-video/); captions generated")
SELECTION_FILE = "selection.json"
CANDIDATE_STREAM = 1  # rng stream for the optional candidate subsample (the draw uses `seed`)


@dataclass(frozen=True)
class Sav128Config:
    """Build settings. `size` is (height, width) of the clips; `max_candidates` optionally
    caps how many valid videos are captioned and scored (a seeded subsample, recorded)."""

    sav_root: Path
    out: Path
    work: Path | None = None
    seed: int = 0
    keep: int = 500
    n_single: int = 64
    n_multi: int = 64
    num_frames: int = 128
    size: tuple[int, int] = (512, 512)
    min_area_fraction: float = 0.01
    max_candidates: int | None = None

    @property
    def work_dir(self) -> Path:
        return self.work or self.out.with_name(self.out.name + ".build")

    def protocol(self) -> dict[str, Any]:
        """The settings that shape the benchmark (no paths), recorded in selection.json."""
        d = {k: v for k, v in asdict(self).items() if k not in ("sav_root", "out", "work")}
        d["size"] = list(self.size)
        return d


@dataclass(frozen=True)
class Sav128Backends:
    vlm: VisionLanguageModel
    aesthetic: AestheticScorer
    motion: MotionScorer


def _problem_dicts(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [asdict(p) for p in problems]


class Sav128Builder:
    """Runs the stages in order (`run`); each stage computes only what its cache lacks."""

    def __init__(self, config: Sav128Config, backends: Sav128Backends):
        self.config, self.backends = config, backends
        self.root, self.work = config.sav_root, config.work_dir
        self.source_problems: list[Problem] = []
        self.index_records: dict[str, dict[str, Any]] = {}

    # 1. index -----------------------------------------------------------------------------
    def index(self) -> dict[str, dict[str, Any]]:
        """Index records of the videos now under the root, by id."""
        cfg = self.config
        pairs, self.source_problems = discover(self.root)
        cache = StageCache(self.work / "index.jsonl", "index", {
            "sav_root": str(self.root.resolve()), "num_frames": cfg.num_frames,
            "size": list(cfg.size), "min_area_fraction": cfg.min_area_fraction})
        for pair in tqdm([p for p in pairs if p.video_id not in cache], desc="SA-V index"):
            record: dict[str, Any] = {"id": pair.video_id, "video": pair.video,
                                      "annotation": pair.annotation}
            problems, extra = self._index_one(pair.video, pair.annotation)
            record.update(extra)
            record["problems"] = _problem_dicts(problems)
            cache.add(record)
        self.index_records = {p.video_id: cache.records[p.video_id] for p in pairs}
        return self.index_records

    def _index_one(self, video: str, annotation_file: str
                   ) -> tuple[list[Problem], dict[str, Any]]:
        cfg = self.config
        annotation, problems = parse_annotation(self.root / annotation_file, annotation_file)
        if annotation is None:
            return problems, {}
        try:
            info = probe_video(self.root / video)
        except VideoDecodeError:
            return [Problem(video, "cannot read the video (empty, not a video, or truncated)",
                            "none: excluded; re-extract it from the SA-V archive")], {}
        if (info.height, info.width) != (annotation.height, annotation.width):
            return [Problem(video, f"the video is {info.height}x{info.width}, its annotation "
                            f"{annotation.height}x{annotation.width}", "none: excluded; the "
                            "masks would not align (re-extract both files)")], {}
        if info.num_frames < cfg.num_frames:
            return [Problem(video, f"the video has {info.num_frames} frames, a clip needs "
                            f"{cfg.num_frames}", "none: excluded; lower --num-frames to keep "
                            "shorter videos")], {}
        objects = []
        for obj in annotation.first_frame_objects:
            fitted = fit_mask(decode_rle(obj.mask), cfg.size)
            fraction = mask_area(fitted) / fitted.size
            if fraction >= cfg.min_area_fraction:
                objects.append({"masklet_id": obj.masklet_id, "area_fraction": fraction,
                                "mask": encode_rle(fitted).to_dict()})
        if not objects:
            return [Problem(annotation_file, "no manual masklet in frame 0 covers "
                            f"{cfg.min_area_fraction:.1%} of the cropped frame",
                            "none: excluded; lower --min-area to keep smaller objects")], {}
        return [], {"frame_count": info.num_frames, "objects": objects}

    def candidates(self, index: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Valid index records, optionally a seeded subsample of `max_candidates`."""
        valid = {k: r for k, r in index.items() if not r["problems"]}
        ids = sorted(valid)
        cap = self.config.max_candidates
        if cap is not None and cap < len(ids):
            rng = np.random.default_rng((self.config.seed, CANDIDATE_STREAM))
            ids = seeded_draw(ids, cap, rng)
        return [valid[i] for i in ids]

    # 2. captions --------------------------------------------------------------------------
    def caption(self, candidates: list[dict[str, Any]]) -> StageCache:
        vlm = self.backends.vlm
        cache = StageCache(self.work / "captions.jsonl", "caption",
                           {"vlm": vlm.identity, "prompt": CATEGORY_PROMPT})
        for record in tqdm([c for c in candidates if c["id"] not in cache], desc="captions"):
            n = record["frame_count"]
            frames = read_video(self.root / record["video"], [0, n // 2, n - 1])
            answer = vlm.describe(frame_strip(frames), CATEGORY_PROMPT)
            cache.add(self._answer_record(record, answer, want_category=True))
        return cache

    def _answer_record(self, record: dict[str, Any], answer: str, *, want_category: bool
                       ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": record["id"], "answer": answer, "problems": []}
        try:
            parsed = parse_answer(answer, want_category=want_category)
        except InvalidAnswerError as exc:
            out["problems"] = _problem_dicts([Problem(
                record["video"], f"unusable VLM answer: {exc}",
                "none: excluded (the answer is recorded); use a stronger VLM or check the "
                "server's chat template")])
            return out
        out["caption"] = parsed.caption
        if want_category:
            out["category"] = parsed.category
        return out

    # 3. scores ----------------------------------------------------------------------------
    def score(self, candidates: list[dict[str, Any]]) -> StageCache:
        cfg, b = self.config, self.backends
        cache = StageCache(self.work / "scores.jsonl", "score", {
            "aesthetic": b.aesthetic.identity, "motion": b.motion.identity,
            "num_frames": cfg.num_frames})
        for record in tqdm([c for c in candidates if c["id"] not in cache], desc="scores"):
            clip = self._clip(record)
            keyframes = clip[[0, len(clip) // 2, len(clip) - 1]]
            cache.add({"id": record["id"], "aesthetic": b.aesthetic.score(keyframes),
                       "motion": b.motion.score(clip)})
        return cache

    def _clip(self, record: dict[str, Any]) -> np.ndarray:
        return read_video(self.root / record["video"], range(self.config.num_frames))

    # 4. selection -------------------------------------------------------------------------
    def select(self, candidates: list[dict[str, Any]], captions: StageCache,
               scores: StageCache) -> dict[str, Any]:
        cfg = self.config
        pool: list[Candidate] = []
        for record in candidates:
            caption, scored = captions.get(record["id"]), scores.get(record["id"])
            if caption and not caption["problems"] and scored:
                pool.append(Candidate(record["id"], caption["category"], scored["aesthetic"],
                                      scored["motion"], len(record["objects"])))
        protocol = SelectionProtocol(cfg.keep, cfg.n_single, cfg.n_multi, cfg.seed)
        outcome = select(pool, protocol, SELECTION_FILE)
        selection = self._selection_record(candidates, captions, scores, pool, outcome)
        write_json(self.work / SELECTION_FILE, selection)
        if outcome.problems:
            raise ValidationError(outcome.problems)
        return selection

    def _selection_record(self, candidates: list[dict[str, Any]], captions: StageCache,
                          scores: StageCache, pool: list[Candidate], outcome: Selection
                          ) -> dict[str, Any]:
        in_pool = {c.id: c for c in pool}
        kept, drawn = set(outcome.kept), set(outcome.single) | set(outcome.multi)
        table: dict[str, Any] = {}
        for record in candidates:
            vid = record["id"]
            entry: dict[str, Any] = {
                "video": record["video"], "num_objects": len(record["objects"]),
                "masklet_ids": [o["masklet_id"] for o in record["objects"]]}
            caption, scored = captions.get(vid) or {}, scores.get(vid) or {}
            entry.update({k: caption[k] for k in ("caption", "category", "answer")
                          if k in caption})
            entry.update({k: scored[k] for k in ("aesthetic", "motion") if k in scored})
            if vid in in_pool:
                entry.update(split=in_pool[vid].split, combined=outcome.combined[vid],
                             kept=vid in kept, drawn=vid in drawn)
            else:
                entry["problems"] = caption.get("problems", [])
            table[vid] = entry
        excluded = {vid: r["problems"] for vid, r in self.index_records.items()
                    if r["problems"]}
        excluded.update({vid: e["problems"] for vid, e in table.items() if e.get("problems")})
        return {
            "benchmark": f"{NAME}@{VERSION}",
            "protocol": {**self.config.protocol(), "categories": list(CATEGORIES),
                         "combined_score": "z(aesthetic) + z(motion) over the scored pool",
                         "split_rule": "single: exactly 1 manual masklet visible in frame 0 "
                                       "covering >= min_area_fraction of the cropped frame; "
                                       "multi: 2 or more"},
            "backends": {"vlm": self.backends.vlm.identity,
                         "aesthetic": self.backends.aesthetic.identity,
                         "motion": self.backends.motion.identity},
            "source_problems": _problem_dicts(self.source_problems),
            "excluded": excluded,
            "candidates": table,
            "kept": outcome.kept,
            "draw": {"seed": self.config.seed, SINGLE: outcome.single, MULTI: outcome.multi},
            "problems": _problem_dicts(outcome.problems),
        }

    # 5. short captions --------------------------------------------------------------------
    def short_captions(self, drawn: list[dict[str, Any]]) -> StageCache:
        vlm, n = self.backends.vlm, self.config.num_frames
        cache = StageCache(self.work / "short_captions.jsonl", "short_caption",
                           {"vlm": vlm.identity, "prompt": SHORT_CAPTION_PROMPT,
                            "num_frames": n})
        for record in tqdm([d for d in drawn if d["id"] not in cache], desc="short captions"):
            frames = read_video(self.root / record["video"], [0, n // 2, n - 1])
            answer = vlm.describe(frame_strip(frames), SHORT_CAPTION_PROMPT)
            cache.add(self._answer_record(record, answer, want_category=False))
        failed = [Problem(**p) for r in cache.records.values() for p in r["problems"]]
        if failed:
            raise ValidationError([dataclasses.replace(
                p, fix="rerun after deleting short_captions.jsonl with another --vlm-model; "
                       "the drawn sample needs a caption") for p in failed])
        return cache

    # 6. export ----------------------------------------------------------------------------
    def export(self, selection: dict[str, Any], drawn: list[dict[str, Any]],
               short: StageCache) -> Benchmark:
        cfg = self.config
        with staged_directory(cfg.out) as staging:
            self._write(staging, selection, drawn, short)
        return Benchmark.load(cfg.out)

    def _write(self, staging: Path, selection: dict[str, Any], drawn: list[dict[str, Any]],
               short: StageCache) -> None:
        cfg = self.config
        samples = []
        for record in tqdm(drawn, desc="export"):
            vid = record["id"]
            entry = selection["candidates"][vid]
            video_rel, image_rel = write_clip(staging, vid, fit_video(self._clip(record),
                                                                     cfg.size), SAV_FPS)
            objects = tuple(ObjectSpec(o["masklet_id"], f"object {o['masklet_id']}", "",
                                       RLE(tuple(o["mask"]["size"]), o["mask"]["counts"]))
                            for o in record["objects"])
            meta = {"source": "SA-V", "source_id": vid, "source_video": record["video"],
                    "category": entry["category"], "full_caption": entry["caption"],
                    "aesthetic": entry["aesthetic"], "motion": entry["motion"],
                    "combined": entry["combined"]}
            samples.append(Sample(vid, image_rel, short.records[vid]["caption"], entry["split"],
                                  objects, None, video_rel, meta))
        write_json(staging / SELECTION_FILE, selection)
        info = BenchmarkInfo(
            NAME, VERSION, (SINGLE, MULTI), SAV_FPS, cfg.num_frames, cfg.size[0], cfg.size[1],
            LICENCE, description=(
                f"{cfg.n_single} single- and {cfg.n_multi} multi-object SA-V videos selected by "
                f"the Through-The-Mask protocol (seed {cfg.seed}); see {SELECTION_FILE}"))
        write_benchmark(staging, info, samples)

    def run(self) -> Benchmark:
        """All stages; returns the written benchmark (its info carries the content sha256)."""
        check_output_free(self.config.out)
        candidates = self.candidates(self.index())
        captions = self.caption(candidates)
        scores = self.score([c for c in candidates if (captions.get(c["id"]) or {}).get(
            "category")])
        selection = self.select(candidates, captions, scores)
        by_id = {c["id"]: c for c in candidates}
        drawn = [by_id[i] for i in selection["draw"][SINGLE] + selection["draw"][MULTI]]
        short = self.short_captions(drawn)
        return self.export(selection, drawn, short)
