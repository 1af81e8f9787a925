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


def test_sav128_command_reports_missing_weights_and_options(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("TTM_BENCH_WEIGHTS_DIR", raising=False)
    sav = ["bench", "build", "sav128", "--sav-root", tmp_path, "--out", tmp_path / "o"]
    assert _run(sav) == 2
    assert "checkpoint 'raft_large'" in capsys.readouterr().err
    assert _run([*sav, "--motion-backend", "dis"]) == 2
    assert "checkpoint 'clip_vit_l14_openai'" in capsys.readouterr().err
    assert _run([*sav, "--vlm-backend", "transformers"]) == 2
    assert "needs --vlm-checkpoint" in capsys.readouterr().err
    assert _run([*sav, "--motion-backend", "raftt"]) == 2
    assert "Did you mean 'raft'" in capsys.readouterr().err


def test_parse_size():
    assert parse_size("480x848") == (480, 848)
    for bad in ("512", "axb", "3x4"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_sav128_command_end_to_end_with_real_scorers(tmp_path, capsys, monkeypatch):
    """The CLI wiring with the real backends on random weights: a tiny CLIP saved in OpenAI's
    state-dict format, a random aesthetic head, the DIS motion backend, the loopback VLM
    server. The registry's CLIP hash is lifted so the random file is accepted."""
    import dataclasses

    import open_clip
    import torch

    from tests.sav_fixtures import FakeVideo, vlm_answer, write_fake_sav
    from tests.vlm_server import serve_vlm
    from ttm_bench import weights
    from ttm_bench.data.sav.selection import CATEGORIES

    torch.manual_seed(0)
    tiny = {"embed_dim": 16, "quick_gelu": True,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
            "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 64, "heads": 1,
                         "layers": 1}}
    (tmp_path / "tiny-openai.json").write_text(json.dumps(tiny))
    open_clip.add_model_config(tmp_path)
    torch.save(open_clip.create_model("tiny-openai").state_dict(), tmp_path / "clip.pt")
    head = torch.nn.Sequential(torch.nn.Linear(16, 4), torch.nn.Dropout(0.2),
                               torch.nn.Linear(4, 4), torch.nn.Dropout(0.2),
                               torch.nn.Linear(4, 4), torch.nn.Dropout(0.1),
                               torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    torch.save({f"layers.{k}": v for k, v in head.state_dict().items()}, tmp_path / "head.pth")
    clip = weights.CHECKPOINTS["clip_vit_l14_openai"]
    monkeypatch.setitem(weights.CHECKPOINTS, clip.name,
                        dataclasses.replace(clip, sha256=None, size=None))
    root = tmp_path / "sav"
    write_fake_sav(root, [FakeVideo(f"sav_{i:06d}", category=CATEGORIES[i % 3],
                                    num_objects=1 + i % 2, speed=i % 3) for i in range(6)])
    out = tmp_path / "bench"
    with serve_vlm(vlm_answer) as (url, _):
        code = _run(["bench", "build", "sav128", "--sav-root", root, "--out", out,
                     "--keep", 4, "--n-single", 1, "--n-multi", 1, "--num-frames", 8,
                     "--size", "16x16", "--vlm-url", url, "--vlm-model", "test",
                     "--clip-checkpoint", tmp_path / "clip.pt",
                     "--aesthetic-checkpoint", tmp_path / "head.pth",
                     "--motion-backend", "dis"])
    assert code == 0, capsys.readouterr().err
    assert _run(["bench", "validate", out]) == 0
    selection = json.loads((out / "selection.json").read_text())
    assert selection["backends"]["motion"]["ad"]["backend"] == "dis"
    assert selection["backends"]["motion"]["short_side"] == 256
    assert all(np.isfinite(c["motion"]) and np.isfinite(c["aesthetic"])
               for c in selection["candidates"].values())
