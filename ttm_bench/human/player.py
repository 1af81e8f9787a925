"""The synchronised side-by-side player: one HTML page with two muted, looping <video>s.

Both videos play, pause and restart together from one set of buttons; the right video follows
the left one's clock (re-seeked when they drift apart by more than `MAX_DRIFT_S`), and when
either reaches its end both restart, so clips of different lengths loop in step. Videos are
embedded as base64 data URIs of files the caller has already checked (see
`Study.video_path`), so the page fetches nothing and no file server is involved.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

MAX_DRIFT_S = 0.08

_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: sans-serif; }}
.pair {{ display: flex; gap: 12px; }}
.side {{ flex: 1; text-align: center; }}
.side video {{ width: 100%; max-height: {max_height}px; background: #000; }}
.controls {{ margin-top: 6px; text-align: center; }}
.controls button {{ margin: 0 4px; padding: 4px 14px; }}
</style></head><body>
<div class="pair">
  <div class="side"><div>Left</div>
    <video id="left" src="{left}" muted playsinline autoplay preload="auto"></video></div>
  <div class="side"><div>Right</div>
    <video id="right" src="{right}" muted playsinline autoplay preload="auto"></video></div>
</div>
<div class="controls">
  <button id="toggle" type="button">Pause</button>
  <button id="restart" type="button">Restart</button>
</div>
<script>
(function () {{
  const videos = [document.getElementById("left"), document.getElementById("right")];
  const toggle = document.getElementById("toggle");
  let paused = false;
  function playAll() {{ videos.forEach(v => v.play().catch(() => {{}})); }}
  function restart() {{ videos.forEach(v => {{ v.currentTime = 0; }}); if (!paused) playAll(); }}
  toggle.addEventListener("click", () => {{
    paused = !paused;
    if (paused) {{ videos.forEach(v => v.pause()); }} else {{ playAll(); }}
    toggle.textContent = paused ? "Play" : "Pause";
  }});
  document.getElementById("restart").addEventListener("click", restart);
  videos.forEach(v => v.addEventListener("ended", restart));
  videos[0].addEventListener("timeupdate", () => {{
    const [a, b] = videos;
    if (!b.ended && Math.abs(a.currentTime - b.currentTime) > {max_drift}) {{
      b.currentTime = Math.min(a.currentTime, b.duration || a.currentTime);
    }}
  }});
  playAll();
}})();
</script></body></html>
"""


def video_data_uri(path: Path) -> str:
    """`data:video/mp4;base64,...` of an mp4 file."""
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def player_html(left_src: str, right_src: str, max_height: int = 360) -> str:
    """The player page for two video URLs (data URIs); the URLs are HTML-escaped."""
    return _TEMPLATE.format(left=html.escape(left_src, quote=True),
                            right=html.escape(right_src, quote=True),
                            max_height=int(max_height), max_drift=MAX_DRIFT_S)
