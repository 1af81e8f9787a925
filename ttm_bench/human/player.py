"""The synchronised side-by-side player: one HTML page with two muted, looping <video>s.

Both videos play, pause and restart together from one set of buttons; the right video follows
the left one's clock (re-seeked when they drift apart by more than `MAX_DRIFT_S`), and when
either reaches its end both restart, so clips of different lengths loop in step. The videos
are URLs of the server's static video route (`ttm_bench.human.server`), so the page itself
stays small and the browser loads, caches and seeks the files over plain HTTP.

The page's script also scrolls the rating page to the top when a new item's player loads and
installs the keyboard shortcuts there (the player's frame shares the page's origin).
"""

from __future__ import annotations

import html
import json

MAX_DRIFT_S = 0.08

_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: sans-serif; }}
.pair {{ display: flex; gap: 12px; }}
.side {{ flex: 1; text-align: center; }}
.side video {{ width: 100%; max-height: {max_height}px; background: #000; display: block; }}
.controls {{ margin-top: 6px; text-align: center; }}
.controls button {{ margin: 0 4px; padding: 4px 14px; }}
@media (max-width: 560px) {{  /* phones: one video above the other, each the full width */
  .pair {{ flex-direction: column; gap: 6px; }}
  .side video {{ max-height: none; }}
}}
</style></head><body data-item="{item_key}">
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
  // the page around the player: a new item starts at the top, and keyboard shortcuts
  const host = window.parent;
  if (host && host !== window) {{
    host.scrollTo(0, 0);
    host.document.querySelectorAll("*").forEach(el => {{ if (el.scrollTop) el.scrollTop = 0; }});
    if (!host.ttmBenchKeys) {{
      const script = host.document.createElement("script");
      script.textContent = {keys_script};
      host.document.head.appendChild(script);
    }}
    document.addEventListener("keydown", e => host.ttmBenchKeys && host.ttmBenchKeys(e));
  }}
}})();
</script></body></html>
"""


# Runs in the rating page itself (installed once by the first player): 1/2/3 choose the
# first/second/third option of the first unanswered question, Enter presses Submit.
_KEYS_SCRIPT = """
window.ttmBenchKeys = function (e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const target = e.target || {};
  if (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "radio")) {
    return;
  }
  const doc = window.document;
  if (e.key === "Enter") {
    const submit = [...doc.querySelectorAll("button")]
      .find(b => b.innerText.trim() === "Submit" && !b.disabled);
    if (submit) { e.preventDefault(); submit.click(); }
    return;
  }
  const option = ["1", "2", "3"].indexOf(e.key);
  if (option < 0) return;
  const open = [...doc.querySelectorAll("[role=radiogroup]")]
    .find(g => !g.querySelector("input:checked"));
  const labels = open ? open.querySelectorAll("label") : [];
  if (option < labels.length) { e.preventDefault(); labels[option].click(); }
};
window.document.addEventListener("keydown", e => window.ttmBenchKeys(e), true);
"""


def player_html(left_src: str, right_src: str, max_height: int = 300, item_key: str = "") -> str:
    """The player page for two video URLs; the URLs and `item_key` (which makes each item's
    page distinct, so the player reloads and scrolls the page up) are HTML-escaped."""
    return _TEMPLATE.format(left=html.escape(left_src, quote=True),
                            right=html.escape(right_src, quote=True),
                            item_key=html.escape(item_key, quote=True),
                            max_height=int(max_height), max_drift=MAX_DRIFT_S,
                            keys_script=json.dumps(_KEYS_SCRIPT))
