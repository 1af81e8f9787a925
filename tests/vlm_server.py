"""A minimal OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

`answer(prompt, image)` decides each reply from the prompt text and the decoded image
(uint8 [H, W, 3]); every request body is kept in `requests` for inspection.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

Answer = Callable[[str, np.ndarray], str]


@contextmanager
def serve_vlm(answer: Answer, status: int = 200) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Run the server in a thread; yield (base URL ending in /v1, received request bodies)."""
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            content = body["messages"][0]["content"]
            prompt = next(c["text"] for c in content if c["type"] == "text")
            url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
            png = base64.b64decode(url.split(",", 1)[1])
            image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            if self.path != "/v1/chat/completions" or status != 200:
                self.send_response(404 if status == 200 else status)
                self.end_headers()
                self.wfile.write(b"no such route")
                return
            reply = {"choices": [{"message": {"role": "assistant",
                                              "content": answer(prompt, image)}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    finally:
        server.shutdown()
        server.server_close()
