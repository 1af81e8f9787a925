"""Batch driver for Motion-I2V, run by the `motion-i2v` preset inside the upstream checkout.

Upstream ships only a Gradio app (`scripts/app.py`) whose module body builds the UI and
launches a server. This driver reads that file, executes only its imports, assignments,
functions and classes (the UI block and bare calls such as `launch` are skipped), builds the
app's `Drag` pipeline once, and animates each request with no drag and no motion brush. The app's
`save_videos_grid` (which writes a GIF) is replaced by a writer of lossless `.npy` files:
`<out>/<key>.npy`, uint8 [T, H, W, 3].

Usage (working directory: the Motion-I2V checkout, its environment active):
    python motion_i2v.py --requests requests.json --out DIR [--flow-model ...]
requests.json: [{"key", "image" (PNG at --height x --width), "prompt", "seed"}, ...]
Runs with Python >= 3.8 and the upstream dependencies only.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from types import SimpleNamespace

APP_FILE = Path("scripts/app.py")
KEPT_STATEMENTS = (ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef, ast.ClassDef)


def app_namespace(app_file: Path) -> dict:
    """Execute the imports, assignments, functions and classes of the upstream app (not its UI
    block nor its bare calls such as `demo.launch()`) and return its namespace."""
    tree = ast.parse(app_file.read_text(encoding="utf-8"), filename=str(app_file))
    tree.body = [node for node in tree.body if isinstance(node, KEPT_STATEMENTS)]
    namespace = {"__name__": "motion_i2v_app", "__file__": str(app_file)}
    exec(compile(tree, str(app_file), "exec"), namespace)
    return namespace


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--flow-model", default="models/stage1/StableDiffusion-FlowGen")
    parser.add_argument("--inference-config",
                        default="configs/configs_flowgen/inference/inference.yaml")
    parser.add_argument("--flow-unit", type=int, default=64)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--device", default="cuda:0")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path.cwd()))  # the app imports `scripts.utils`, `flowgen`, ...
    import numpy as np
    import torch

    app = app_namespace(APP_FILE)
    captured = {}

    def keep_video(videos, path, *_args, **_kwargs):  # replaces the app's GIF writer
        captured["video"] = videos

    app["save_videos_grid"] = keep_video
    drag = app["Drag"](args.device, args.flow_model, args.inference_config,
                       args.height, args.width, args.frames)
    no_brush = {"mask": np.zeros((args.height, args.width, 3), np.uint8)}
    args.out.mkdir(parents=True, exist_ok=True)
    for request in json.loads(args.requests.read_text(encoding="utf-8")):
        torch.manual_seed(request["seed"])
        np.random.seed(request["seed"] % 2**32)
        captured.clear()
        no_drags = SimpleNamespace(constructor_args={"value": []})
        drag.run(request["image"], no_brush, no_drags, 1, args.flow_unit, request["prompt"])
        video = captured["video"][0]  # [C, T, H, W] in [0, 1]
        frames = (video.permute(1, 2, 3, 0).clamp(0, 1) * 255).round().to(torch.uint8)
        np.save(args.out / f"{request['key']}.npy", frames.cpu().numpy())
        print(f"wrote {request['key']}.npy", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
