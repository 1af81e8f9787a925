"""Models for the Ray executor's fault tests, imported by Ray workers as `module:Class` targets.

Each writes one line "<sample_id> <pid>" to `log` when it starts a sample, so a test can count
how often and where each sample was generated. Faults fire only while `poison` (a file) exists,
so a rerun with the same config, after the test deletes it, behaves.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GenerationRequest, VideoModel


class Misbehaving(VideoModel):
    """The input image repeated, except while `poison` exists, for the samples named:

    kill_once: kills its own worker process the first time (a `killed` marker file remembers);
    kill: kills its worker every time; hang: sleeps for an hour; wrong_frames: one frame short;
    crash: raises. `delay` (s) slows every sample down; `missing_weights` makes `load` fail
    as a model with no checkpoint does.
    """

    name = "misbehaving"
    version = "1"
    default_config: Mapping[str, Any] = {"log": "", "poison": "", "kill_once": "", "kill": "",
                                         "hang": "", "wrong_frames": "", "crash": "",
                                         "delay": 0.0, "missing_weights": False}

    def load(self, config: Mapping[str, Any], device: str) -> None:
        if config["missing_weights"]:
            raise TTMBenchError("misbehaving: checkpoint not found; pass --set weights=PATH")
        super().load(config, device)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        c, sid = self.config, request.sample_id
        with open(c["log"], "a", encoding="utf-8") as log:
            log.write(f"{sid} {os.getpid()}\n")
        time.sleep(c["delay"])
        if c["poison"] and Path(c["poison"]).exists():
            marker = Path(c["poison"]).with_suffix(".killed")
            if sid == c["kill_once"] and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            if sid == c["kill"]:
                os.kill(os.getpid(), signal.SIGKILL)
            if sid == c["hang"]:
                time.sleep(3600)
            if sid == c["crash"]:
                raise TTMBenchError(f"stand-in crash on {sid}")
            if sid == c["wrong_frames"]:
                return np.repeat(request.image[None], request.num_frames - 1, axis=0)
        return np.repeat(request.image[None], request.num_frames, axis=0)


def log_counts(log: Path) -> dict[str, int]:
    """How many times each sample was started, from a `Misbehaving` log."""
    counts: dict[str, int] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            sample_id = line.split()[0]
            counts[sample_id] = counts.get(sample_id, 0) + 1
    return counts
