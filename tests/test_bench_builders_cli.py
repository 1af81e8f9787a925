"""The builder and import sub-commands, driven through argument parsing."""

import argparse
import json

import numpy as np
import pytest

from ttm_bench.cli import main
from ttm_bench.commands.bench_builders import parse_size
from ttm_bench.video import write_video


def _run(argv):
    return main([str(a) for a in argv])


def test_import_command(tmp_path, capsys):
    write_video(tmp_path / "a.mp4", np.full((4, 8, 8, 3), 9, np.uint8), 12.0)
    (tmp_path / "t.csv").write_text("id,caption,split\na,a thing,s\n")
    out = tmp_path / "out"
    assert _run(["bench", "import", "--clips", str(tmp_path), "--table", str(tmp_path / "t.csv"),
                 "--out", str(out), "--name", "mine", "--size", "4x4"]) == 0
    info = json.loads((out / "benchmark.json").read_text())
    assert (info["name"], info["height"], info["num_frames"]) == ("mine", 4, 4)
    assert "mine@1 (1 samples" in capsys.readouterr().out
    assert _run(["bench", "validate", out]) == 0


def test_animation_bench_command(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    write_video(root / "v.mp4", np.zeros((10, 8, 8, 3), np.uint8), 8.0)
    (root / "meta.jsonl").write_text('{"file": "v.mp4", "text": "dark"}\n')
    assert _run(["bench", "build", "animation-bench", "--root", str(root), "--out",
                 str(tmp_path / "o"), "--num-frames", "4", "--size", "8x8",
                 "--human-study-size", "1"]) == 0
    assert json.loads((tmp_path / "o" / "manifest.jsonl").read_text())["caption"] == "dark"
    assert _run(["bench", "validate", tmp_path / "o"]) == 0


def test_sav128_command_needs_scorer_checkpoints(tmp_path, capsys):
    assert _run(["bench", "build", "sav128", "--sav-root", tmp_path, "--out", tmp_path]) == 2
    assert "--clip-checkpoint is required" in capsys.readouterr().err
    assert _run(["bench", "build", "sav128", "--sav-root", tmp_path, "--out", tmp_path,
                 "--vlm-backend", "transformers", "--clip-checkpoint", "c",
                 "--aesthetic-checkpoint", "a", "--raft-checkpoint", "r"]) == 2
    assert "needs --vlm-checkpoint" in capsys.readouterr().err


def test_parse_size():
    assert parse_size("480x848") == (480, 848)
    for bad in ("512", "axb", "3x4"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)
