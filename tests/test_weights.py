"""Weights registry: lookup order, error messages, and downloads from a local HTTP server."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ttm_bench import weights
from ttm_bench.commands import weights as weights_command
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.metrics.base import MissingWeightsError

PAYLOAD = bytes(range(256)) * 400  # 102400 bytes


class FileServer(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD at any path, honours Range, and can cut or slow down responses."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.payload = PAYLOAD
        self.cut_after: int | None = None  # bytes sent before dropping the next response
        self.delay_s = 0.0
        self.requests: list[str | None] = []  # Range header of each GET (None for full)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/model.bin"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    server: FileServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        if self.path == "/redirect":  # like Hugging Face and Dropbox, which redirect to a CDN
            self.send_response(302)
            self.send_header("Location", srv.url)
            self.end_headers()
            return
        header = self.headers.get("Range")
        srv.requests.append(header)
        start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1)) if header else 0
        if start >= len(srv.payload):
            self.send_response(416)
            self.end_headers()
            return
        body = srv.payload[start:]
        self.send_response(206 if header else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        time.sleep(srv.delay_s)
        if srv.cut_after is not None:
            cut, srv.cut_after = srv.cut_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(weights.WEIGHTS_DIR_ENV, raising=False)
    return tmp_path / "cache"


def make_ckpt(url: str, payload: bytes = PAYLOAD, **overrides: object) -> weights.Checkpoint:
    fields = dict(name="tiny", filename="tiny.bin", urls=(url,),
                  sha256=hashlib.sha256(payload).hexdigest(), size=len(payload),
                  licence="test", metrics=("tiny_metric",))
    return weights.Checkpoint(**{**fields, **overrides})


def test_fetch_downloads_verifies_and_reuses(server: FileServer, isolated_cache: Path) -> None:
    ckpt = make_ckpt(server.url)
    path = weights.fetch(ckpt)
    assert path == isolated_cache / "weights" / "tiny.bin"
    assert path.read_bytes() == PAYLOAD
    assert weights.fetch(ckpt) == path
    assert server.requests == [None]  # the second fetch found the verified file
    assert not list(path.parent.glob(".tiny.bin.part"))


def test_fetch_resumes_after_cut_connection(server: FileServer) -> None:
    server.cut_after = 30000
    path = weights.fetch(make_ckpt(server.url))
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [None, "bytes=30000-"]


def test_fetch_resumes_partial_file_from_earlier_process(server: FileServer,
                                                         isolated_cache: Path) -> None:
    part = isolated_cache / "weights" / ".tiny.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:5000])
    weights.fetch(make_ckpt(server.url))
    assert server.requests == ["bytes=5000-"]


def test_fetch_complete_partial_file_gets_416_and_is_accepted(server: FileServer,
                                                              isolated_cache: Path) -> None:
    part = isolated_cache / "weights" / ".tiny.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD)
    assert weights.fetch(make_ckpt(server.url)).read_bytes() == PAYLOAD


def test_fetch_wrong_checksum_leaves_no_file(server: FileServer, isolated_cache: Path) -> None:
    ckpt = make_ckpt(server.url, sha256="0" * 64)
    with pytest.raises(TTMBenchError, match=r"sha256 .*expected 0{64}"):
        weights.fetch(ckpt)
    assert not (isolated_cache / "weights" / "tiny.bin").exists()
    assert not (isolated_cache / "weights" / ".tiny.bin.part").exists()


def test_fetch_follows_redirects_and_resumes_through_them(server: FileServer) -> None:
    server.cut_after = 7000
    ckpt = make_ckpt(server.url.replace("/model.bin", "/redirect"))
    assert weights.fetch(ckpt).read_bytes() == PAYLOAD
    assert server.requests == [None, "bytes=7000-"]


def test_fetch_falls_back_to_second_url(server: FileServer) -> None:
    dead = "http://127.0.0.1:9/unreachable.bin"
    ckpt = make_ckpt(dead, urls=(dead, server.url))
    assert weights.fetch(ckpt, attempts=1, timeout=2).read_bytes() == PAYLOAD


def test_concurrent_fetchers_download_once(server: FileServer) -> None:
    server.delay_s = 0.3
    ckpt = make_ckpt(server.url)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(weights.fetch(ckpt)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1
    assert results[0].read_bytes() == PAYLOAD
    assert server.requests == [None]


def test_unknown_sha256_downloads_and_verify_says_unverified(server: FileServer) -> None:
    ckpt = make_ckpt(server.url, sha256=None, size=None)
    path = weights.fetch(ckpt)
    result = weights.verify(ckpt)
    assert result.status == "unverified" and result.path == path
    assert hashlib.sha256(PAYLOAD).hexdigest() in result.detail


def test_locate_missing_names_file_places_and_fix(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path / "offline"))
    with pytest.raises(MissingWeightsError) as info:
        weights.locate("viclip_l14")
    message = str(info.value)
    assert "ViClip-InternVid-10M-FLT.pth" in message
    assert str(tmp_path / "offline" / "ViClip-InternVid-10M-FLT.pth") in message
    assert "ttm-bench weights fetch viclip_l14" in message
    assert "checkpoint=PATH" in message


def test_locate_prefers_weights_dir_and_explicit_path(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    ckpt = make_ckpt("http://unused", name="tiny")
    monkeypatch.setitem(weights.CHECKPOINTS, "tiny", ckpt)
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "tiny.bin").write_bytes(PAYLOAD)
    cached = weights.weights_cache_dir() / "tiny.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(offline))
    assert weights.locate("tiny") == offline / "tiny.bin"
    explicit = tmp_path / "elsewhere.bin"
    explicit.write_bytes(PAYLOAD)
    assert weights.locate("tiny", explicit) == explicit
    with pytest.raises(MissingWeightsError, match=r"nope\.bin"):
        weights.locate("tiny", tmp_path / "nope.bin")


def test_locate_corrupt_file_is_an_error_not_a_load(monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = make_ckpt("http://unused")
    monkeypatch.setitem(weights.CHECKPOINTS, "tiny", ckpt)
    cached = weights.weights_cache_dir() / "tiny.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD[:-1] + b"\x00")
    with pytest.raises(MissingWeightsError, match=r"corrupt \(sha256 [0-9a-f]{64}, expected"):
        weights.locate("tiny")
    assert weights.verify(ckpt).status == "corrupt"


def test_cached_sha256_is_recomputed_when_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert weights.cached_sha256(path) == hashlib.sha256(b"abc").hexdigest()
    path.write_bytes(b"abcd")
    assert weights.cached_sha256(path) == hashlib.sha256(b"abcd").hexdigest()


def test_registry_entries_are_complete_and_hashes_well_formed() -> None:
    for ckpt in weights.CHECKPOINTS.values():
        assert ckpt.urls and all(u.startswith("https://") for u in ckpt.urls)
        assert ckpt.licence and ckpt.metrics and ckpt.sha256_source
        assert ckpt.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", ckpt.sha256)
    raft = weights.CHECKPOINTS["raft_large"]
    assert raft.sha256 is not None and raft.sha256.startswith("ff5fadd5")
    with pytest.raises(UnknownNameError, match="viclip_l14"):
        weights.get_checkpoint("viclip_l4")


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    weights_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_fetch_list_verify(server: FileServer, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(weights, "CHECKPOINTS", {"tiny": make_ckpt(server.url)})
    assert run_cli(["weights", "verify"]) == 0
    assert "missing" in capsys.readouterr().out
    assert run_cli(["weights", "fetch", "tiny"]) == 0
    assert run_cli(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "tiny_metric" in listing and "tiny.bin" in listing and "not installed" not in listing
    assert run_cli(["weights", "verify"]) == 0
    assert capsys.readouterr().out.startswith("ok")
    corrupt = replace(make_ckpt(server.url), sha256="1" * 64)
    monkeypatch.setattr(weights, "CHECKPOINTS", {"tiny": corrupt})
    assert run_cli(["weights", "verify"]) == 1
    assert "corrupt" in capsys.readouterr().out


def test_ttm_bench_weights_list_names_every_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    from ttm_bench.cli import main

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name, ckpt in weights.CHECKPOINTS.items():
        assert name in out and ckpt.filename in out and ckpt.licence in out
    assert "sha256:   unknown" in out  # the I3D and ViCLIP files have no published hash
    assert main(["weights", "fetch", "no_such_model"]) == 2
