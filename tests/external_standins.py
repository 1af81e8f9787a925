"""Stand-in upstream checkouts for the external-adapter tests.

Each stand-in honours its upstream tool's command-line contract (argument names, input layout,
output location) and "generates" a clip whose frame t is the input image brightened by
4·t, so a test can check that each output belongs to its own input. Misbehaviour is chosen
with the STANDIN_MODE environment variable: `ok`, `wrong_frames` (one frame short), `crash`
(exit 3), `hang` (a child process and the tool sleep forever; the child's pid goes to
STANDIN_PIDFILE), `crash_on=<word>` (exit 4 when a prompt contains <word>).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

COMMON = '''
import glob, os, subprocess, sys, time
import numpy as np
from PIL import Image

MODE = os.environ.get("STANDIN_MODE", "ok")

def misbehave(prompts):
    if MODE == "crash":
        print("Traceback: CUDA out of memory (stand-in)", file=sys.stderr)
        sys.exit(3)
    if MODE == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.environ["STANDIN_PIDFILE"], "w") as f:
            f.write(str(child.pid))
        time.sleep(600)
    if MODE.startswith("crash_on="):
        word = MODE.split("=", 1)[1]
        if any(word in p for p in prompts):
            print(f"stand-in refuses prompt with {word}", file=sys.stderr)
            sys.exit(4)

def clip(image_path, frames, height, width):
    image = np.asarray(Image.open(image_path).convert("RGB"))
    assert image.shape == (height, width, 3), (image.shape, height, width)
    count = frames - 1 if MODE == "wrong_frames" else frames
    return np.stack([np.clip(image.astype(int) + 4 * t, 0, 255) for t in range(count)]
                    ).astype(np.uint8)

def write_mp4(path, video, fps=8):
    import av
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.height, stream.width = video.shape[1:3]
        stream.pix_fmt = "rgb24"
        stream.options = {"qp": "0"}
        for frame in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())

def prompt_lines(path):
    return [line.strip() for line in open(path) if line.strip()]
'''

VIDEOCRAFTER = '''
import argparse
p = argparse.ArgumentParser()
for name in ["--seed", "--mode", "--ckpt_path", "--config", "--prompt_file", "--savedir",
             "--savefps", "--n_samples", "--ddim_steps", "--ddim_eta", "--bs", "--height",
             "--width", "--frames", "--fps", "--unconditional_guidance_scale", "--cond_input"]:
    p.add_argument(name)
a = p.parse_args()
assert a.mode == "i2v" and os.path.exists(a.ckpt_path)
prompts = prompt_lines(a.prompt_file)
images = sorted(glob.glob(os.path.join(a.cond_input, "*.[mpj][pn][4gj]")))
assert len(images) == len(prompts), "prompts and images not paired"
misbehave(prompts)
for image, prompt in zip(images, prompts):
    stem = os.path.basename(image)[:-4]
    video = clip(image, int(a.frames), int(a.height), int(a.width))
    write_mp4(os.path.join(a.savedir, stem + ".mp4"), video)
'''

DYNAMICRAFTER = '''
import argparse
p = argparse.ArgumentParser()
for name in ["--seed", "--ckpt_path", "--config", "--savedir", "--n_samples", "--bs",
             "--height", "--width", "--unconditional_guidance_scale", "--ddim_steps",
             "--ddim_eta", "--prompt_dir", "--video_length", "--frame_stride",
             "--timestep_spacing", "--guidance_rescale", "--fps"]:
    p.add_argument(name)
for flag in ["--text_input", "--perframe_ae"]:
    p.add_argument(flag, action="store_true")
a = p.parse_args()
assert a.bs == "1" and a.text_input and os.path.exists(a.ckpt_path)
prompts = prompt_lines(sorted(glob.glob(os.path.join(a.prompt_dir, "*.txt")))[0])
images = sorted(glob.glob(os.path.join(a.prompt_dir, "*.png")))
misbehave(prompts)
fakedir = os.path.join(a.savedir, "samples").replace("samples", "samples_separate")
for image, prompt in zip(images, prompts):
    stem = os.path.basename(image).split(".")[0]
    video = clip(image, int(a.video_length), int(a.height), int(a.width))
    write_mp4(os.path.join(fakedir, stem + "_sample0.mp4"), video)
'''

CONSISTI2V = '''
import argparse, datetime, yaml
p = argparse.ArgumentParser()
p.add_argument("--inference_config")
p.add_argument("--prompt_config")
p.add_argument("--format", default="mp4")
p.add_argument("optional_args", nargs="*", default=[])
a = p.parse_args()
assert os.path.exists(a.inference_config)
over = dict(item.split("=", 1) for item in a.optional_args)
config = yaml.safe_load(open(a.prompt_config))
assert len(config["seeds"]) == len(config["prompts"]) == len(config["path_to_first_frames"])
misbehave(config["prompts"])
stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
savedir = f"{over['output_dir']}/{over['output_name']}-{stamp}"
for idx, (prompt, image) in enumerate(zip(config["prompts"], config["path_to_first_frames"])):
    video = clip(image, int(over["sampling_kwargs.n_frames"]),
                 int(over["sampling_kwargs.height"]), int(over["sampling_kwargs.width"]))
    words = "-".join(prompt.split(" ")[:10])
    write_mp4(f"{savedir}/sample/{idx}-{words}.{a.format}", video)
'''

MOTION_I2V_APP = '''
import torch

def save_videos_grid(videos, path, rescale=False, n_rows=6, fps=8):
    raise RuntimeError("the driver must replace the app's GIF writer")

class Drag:
    def __init__(self, device, pretrained_model_path, inference_config, height, width,
                 model_length):
        assert os.path.isdir(pretrained_model_path)
        self.height, self.width, self.model_length = height, width, model_length

    def run(self, first_frame_path, image_brush, tracking_points, inference_batch_size,
            flow_unit_id, prompt):
        assert tracking_points.constructor_args["value"] == []
        assert not image_brush["mask"].any()
        misbehave([prompt])
        video = clip(first_frame_path, self.model_length, self.height, self.width)
        video = torch.from_numpy(video).permute(3, 0, 1, 2)[None].float() / 255
        save_videos_grid(video, "gradio/samples/output.gif")
        return None, "gradio/samples/output.gif"

with gr.Blocks() as demo:  # the UI: must never run under the driver
    raise RuntimeError("UI executed")
demo.launch(share=True)
'''

# preset name -> (script path in the checkout, script source)
STANDINS = {
    "videocrafter1-i2v": ("scripts/evaluation/inference.py", VIDEOCRAFTER),
    "dynamicrafter-256": ("scripts/evaluation/inference.py", DYNAMICRAFTER),
    "dynamicrafter-512": ("scripts/evaluation/inference.py", DYNAMICRAFTER),
    "dynamicrafter-1024": ("scripts/evaluation/inference.py", DYNAMICRAFTER),
    "consisti2v": ("scripts/animate.py", CONSISTI2V),
    "motion-i2v": ("scripts/app.py", MOTION_I2V_APP),
}


def install_standin(preset: str, root: Path) -> Path:
    """Create a stand-in checkout for `preset` under `root` with the files its preset checks
    (a config value with a suffix becomes a file, without one a directory); returns its path."""
    from baselines.external import load_preset

    script, source = STANDINS[preset]
    repo = root / f"{preset}-checkout"
    (repo / script).parent.mkdir(parents=True, exist_ok=True)
    (repo / script).write_text(COMMON + textwrap.dedent(source), encoding="utf-8")
    spec = load_preset(preset)
    for key in spec.local_files:
        path = repo / spec.config[key]
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("stand-in", encoding="utf-8")
        else:
            path.mkdir(parents=True, exist_ok=True)
    return repo
