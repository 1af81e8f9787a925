"""The builder and import sub-commands, driven through argument parsing."""

import argparse
import json

import numpy as np
import pytest

from ttm_bench.commands.bench_builders import (
    add_build_commands,
    add_import_command,
    parse_size,
)
from ttm_bench.errors import TTMBenchError
from ttm_bench.video import write_video


def _run(argv):
    parser = argparse.ArgumentParser(prog="ttm-bench")
    bench = parser.add_subparsers(dest="command").add_parser("bench").add_subparsers(dest="sub")
    add_import_command(bench)
    add_build_commands(bench.add_parser("build").add_subparsers(dest="builder"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_import_command(tmp_path, capsys):
    write_video(tmp_path / "a.mp4", np.full((4, 8, 8, 3), 9, np.uint8), 12.0)
    (tmp_path / "t.csv").write_text("id,caption,split\na,a thing,all\n")
    out = tmp_path / "out"
    assert _run(["bench", "import", "--clips", str(tmp_path), "--table", str(tmp_path / "t.csv"),
                 "--out", str(out), "--name", "mine", "--size", "4x4"]) == 0
    info = json.loads((out / "benchmark.json").read_text())
    assert (info["name"], info["height"], info["num_frames"]) == ("mine", 4, 4)
    assert "mine@1" in capsys.readouterr().out


def test_animation_bench_command(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    write_video(root / "v.mp4", np.zeros((10, 8, 8, 3), np.uint8), 8.0)
    (root / "meta.jsonl").write_text('{"file": "v.mp4", "text": "dark"}\n')
    assert _run(["bench", "build", "animation-bench", "--root", str(root), "--out",
                 str(tmp_path / "o"), "--num-frames", "4", "--size", "8x8",
                 "--human-study-size", "1"]) == 0
    assert json.loads((tmp_path / "o" / "manifest.jsonl").read_text())["caption"] == "dark"


def test_sav128_command_needs_scorer_checkpoints(tmp_path):
    with pytest.raises(TTMBenchError, match="--clip-checkpoint is required"):
        _run(["bench", "build", "sav128", "--sav-root", str(tmp_path), "--out", str(tmp_path)])
    with pytest.raises(TTMBenchError, match="needs --vlm-checkpoint"):
        _run(["bench", "build", "sav128", "--sav-root", str(tmp_path), "--out", str(tmp_path),
              "--vlm-backend", "transformers", "--clip-checkpoint", "c", "--aesthetic-checkpoint",
              "a", "--raft-checkpoint", "r"])


def test_parse_size():
    assert parse_size("480x848") == (480, 848)
    for bad in ("512", "axb", "3x4"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)
