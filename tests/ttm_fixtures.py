"""Helpers shared by the reference-TTM tests: tiny random checkpoints, synthetic clips and a
local OpenAI-compatible chat server. Everything is generated; nothing is downloaded."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch

from reference_impl.ttm.checkpoint import save_checkpoint
from reference_impl.ttm.clips import TrainingClip
from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.config import load_architecture, variant


def randomise(components: TTMComponents) -> TTMComponents:
    """Give zero-initialised layers weights so every condition matters."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in components.parameters():
            if not p.any():
                p.normal_(0, 0.05)
    return components


def write_tiny_checkpoint(root: Path, arch: str, variant_name: str) -> Path:
    """A random-weight checkpoint of `variant_name` on the tiny config `arch`, in `root`."""
    torch.manual_seed(0)
    components = randomise(TTMComponents(load_architecture(arch), variant(variant_name)))
    return save_checkpoint(components, root / f"{arch}-{variant_name}")


def moving_square_clip(clip_id: str, dx: int, frames: int = 6, size: int = 40) -> TrainingClip:
    """A white square moving dx px per frame over a vertical gradient, with its masklet."""
    video = np.zeros((frames, size, size, 3), np.uint8)
    video[:] = np.linspace(0, 120, size, dtype=np.uint8)[None, :, None, None]
    masks = np.zeros((frames, 1, size, size), bool)
    for t in range(frames):
        x = 4 + dx * t
        masks[t, 0, 12:26, x:x + 14] = True
    video[masks[:, 0]] = 255
    return TrainingClip(clip_id, video, masks, "a white square slides right",
                        "an object slides right", ("a white square",))


class ChatServer:
    """A minimal OpenAI-compatible server on 127.0.0.1 replying with queued answers."""

    def __init__(self, answers: list[str]):
        self.answers, self.requests = list(answers), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, self.headers.get("Authorization"), body))
                reply = {"choices": [{"message": {"role": "assistant",
                                                  "content": outer.answers.pop(0)}}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
