"""Run a baseline that lives in its own checkout and environment, through its own command line.

A preset (`baselines/presets/<name>.yaml`) says how: the command template, how requests are
laid out on disk for the tool (`layout`), where each output appears (`output`), the model's
native output format and its default settings. One invocation serves a batch of requests, so
the upstream model loads once per batch, not once per clip:

1. the requests' first frames are stretched to the native size (`normalize.prepare_image`) and
   written with their prompts and seeds under `<work>/inputs` in the layout the tool reads;
2. the command runs with the upstream checkout as working directory, a time limit
   (`timeout_startup_s + timeout_per_sample_s · n`), stdout and stderr to files;
3. each request's output file is found, decoded and checked against the native format.

Every outcome carries an `InvocationRecord` (exact command, exit code, stderr tail, seconds)
that the runner stores in the sample's sidecar. A failed batch of several requests is retried
one request per invocation, so one bad sample fails alone.

Command and output templates use `{name}` fields: `python`, `repo`, `drivers` (the shipped
driver scripts), `inputs`, `outputs`, `seed`, `frames`, `height`, `width`, `fps` (native), every
key of the preset's `config`; output patterns also `key` (the request's file stem) and `index`
(its position in the batch). Output patterns may contain `*` wildcards.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml
from PIL import Image

from ttm_bench.errors import Problem, TTMBenchError, UnknownNameError, ValidationError
from ttm_bench.generation.model import (
    GeneratedVideo,
    GenerationFailure,
    GenerationRequest,
    VideoModel,
)
from ttm_bench.generation.normalize import prepare_image

PRESET_PACKAGE = "baselines.presets"
DRIVERS_DIR = Path(__file__).resolve().parent / "drivers"
STDERR_TAIL_CHARS = 4000
KILL_GRACE_S = 5.0
SEED_SCOPES = ("sample", "invocation")
ADAPTER_CONFIG: Mapping[str, Any] = {
    "repo": "",  # the upstream checkout (required)
    "python": "python",  # the interpreter of the upstream environment
    "batch_size": 8,  # requests per invocation
    "timeout_startup_s": 900.0,  # model loading allowance per invocation
    "timeout_per_sample_s": 600.0,
    "work_dir": "",  # where invocation directories go; default: the system temp dir
    "keep_work": False,  # keep invocation directories (inputs, outputs, logs) for debugging
}


@dataclass(frozen=True)
class NativeFormat:
    """What the model generates: frames of height×width at fps."""

    frames: int
    height: int
    width: int
    fps: float


@dataclass(frozen=True)
class ExternalPreset:
    """One baseline's command-line contract, read from `baselines/presets/<name>.yaml`."""

    name: str
    version: str
    title: str
    native: NativeFormat
    layout: str
    seed_scope: str
    command: tuple[str, ...]
    output: str
    config: Mapping[str, Any]
    local_files: tuple[str, ...] = ()
    path_must_not_contain: tuple[str, ...] = ()


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.name[: -len(".yaml")] for p in resources.files(PRESET_PACKAGE).iterdir()
                  if p.name.endswith(".yaml"))


def load_preset(name: str) -> ExternalPreset:
    """Read and validate a shipped preset by name."""
    if name not in preset_names():
        raise UnknownNameError("external preset", name, preset_names())
    path = resources.files(PRESET_PACKAGE) / f"{name}.yaml"
    return parse_preset(yaml.safe_load(path.read_text(encoding="utf-8")), f"{name}.yaml")


def parse_preset(data: Any, source: str) -> ExternalPreset:
    """Validate a preset mapping; raises `ValidationError` listing every problem."""
    problems: list[Problem] = []

    def need(key: str, kind: type | tuple[type, ...], fix: str) -> Any:
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, kind):
            problems.append(Problem(source, f"missing or invalid {key!r}: {value!r}", fix,
                                    field=key))
        return value

    if not isinstance(data, dict):
        raise ValidationError([Problem(source, "a preset must be a YAML mapping",
                                       "start from a shipped preset")])
    name = need("name", str, "give the preset's registry name")
    native = need("native", dict, "give native: {frames, height, width, fps}")
    layout = need("layout", str, f"one of {sorted(LAYOUTS)}")
    scope = need("seed_scope", str, f"one of {list(SEED_SCOPES)}")
    command = need("command", list, "give the command as a list of arguments")
    output = need("output", str, "give the output path pattern, e.g. '{outputs}/{key}.mp4'")
    config = data.get("config", {})
    if isinstance(layout, str) and layout not in LAYOUTS:
        problems.append(Problem(source, f"unknown layout {layout!r}",
                                f"use one of {sorted(LAYOUTS)}", field="layout"))
    if isinstance(scope, str) and scope not in SEED_SCOPES:
        problems.append(Problem(source, f"unknown seed_scope {scope!r}",
                                f"use one of {list(SEED_SCOPES)}", field="seed_scope"))
    if isinstance(native, dict) and sorted(native) != ["fps", "frames", "height", "width"]:
        problems.append(Problem(source, f"native has keys {sorted(native)}",
                                "give exactly frames, height, width, fps", field="native"))
    if not isinstance(config, dict) or set(config) & set(ADAPTER_CONFIG):
        problems.append(Problem(source, "config must be a mapping without the adapter's own "
                                f"keys {sorted(ADAPTER_CONFIG)}", "rename the clashing keys",
                                field="config"))
    unknown_files = set(data.get("local_files", ())) - set(config if isinstance(config, dict)
                                                            else ())
    if unknown_files:
        problems.append(Problem(source, f"local_files names unknown config keys "
                                f"{sorted(unknown_files)}", "list keys of config",
                                field="local_files"))
    if isinstance(output, str) and "{key}" not in output and "{index}" not in output:
        problems.append(Problem(source, "output pattern names no request",
                                "include {key} or {index}", field="output"))
    if problems:
        raise ValidationError(problems)
    return ExternalPreset(
        name=name,
        version=str(data.get("version", "0")),
        title=str(data.get("title", name)),
        native=NativeFormat(int(native["frames"]), int(native["height"]),
                            int(native["width"]), float(native["fps"])),
        layout=layout,
        seed_scope=scope,
        command=tuple(str(part) for part in command),
        output=output,
        config=dict(config),
        local_files=tuple(data.get("local_files", ())),
        path_must_not_contain=tuple(data.get("path_must_not_contain", ())),
    )


# --- request layouts: how a batch is written for the tool ------------------------------------


def _single_line(text: str, sample_id: str) -> str:
    line = " ".join(text.split())
    if not line:
        raise TTMBenchError(f"sample {sample_id!r} has an empty caption; line-based prompt "
                            "files skip empty lines and would pair prompts with wrong images")
    return line


def _write_images(requests: Sequence[GenerationRequest], keys: Sequence[str], inputs: Path,
                  native: NativeFormat) -> list[Path]:
    paths = []
    for request, key in zip(requests, keys, strict=True):
        path = inputs / f"{key}.png"
        Image.fromarray(prepare_image(request.image, native.height, native.width)).save(path)
        paths.append(path)
    return paths


def _layout_prompt_file(requests: Sequence[GenerationRequest], keys: Sequence[str],
                        inputs: Path, native: NativeFormat) -> None:
    """`<key>.png` per request plus `prompts.txt`, one prompt per line in key order."""
    _write_images(requests, keys, inputs, native)
    lines = [_single_line(r.caption, r.sample_id) for r in requests]
    (inputs / "prompts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _layout_prompt_config(requests: Sequence[GenerationRequest], keys: Sequence[str],
                          inputs: Path, native: NativeFormat) -> None:
    """`<key>.png` per request plus `prompts.yaml` (prompts, n_prompts, first frames, seeds)."""
    images = _write_images(requests, keys, inputs, native)
    config = {
        "prompts": [_single_line(r.caption, r.sample_id) for r in requests],
        "n_prompts": [""],
        "path_to_first_frames": [str(p) for p in images],
        "seeds": [r.seed for r in requests],
    }
    (inputs / "prompts.yaml").write_text(yaml.safe_dump(config, sort_keys=False),
                                         encoding="utf-8")


def _layout_requests_json(requests: Sequence[GenerationRequest], keys: Sequence[str],
                          inputs: Path, native: NativeFormat) -> None:
    """`<key>.png` per request plus `requests.json`: [{key, image, prompt, seed}, ...]."""
    images = _write_images(requests, keys, inputs, native)
    entries = [{"key": k, "image": str(p), "prompt": _single_line(r.caption, r.sample_id),
                "seed": r.seed} for r, k, p in zip(requests, keys, images, strict=True)]
    (inputs / "requests.json").write_text(json.dumps(entries, indent=1), encoding="utf-8")


Layout = Callable[[Sequence[GenerationRequest], Sequence[str], Path, NativeFormat], None]
LAYOUTS: dict[str, Layout] = {
    "image-dir+prompt-file": _layout_prompt_file,
    "prompt-config-yaml": _layout_prompt_config,
    "requests-json": _layout_requests_json,
}


# --- running the tool ------------------------------------------------------------------------


@dataclass(frozen=True)
class InvocationRecord:
    """One run of the tool: what ran, how it ended. Stored in each of its samples' sidecars."""

    command: str
    cwd: str
    exit_code: int | None
    timed_out: bool
    seconds: float
    stderr_tail: str
    batch: tuple[str, ...]
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch"] = list(self.batch)
        return data


def _tail(path: Path, chars: int = STDERR_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - chars))
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def run_command(command: Sequence[str], cwd: Path, timeout_s: float, log_dir: Path,
                env: Mapping[str, str] | None = None) -> tuple[int | None, bool, float]:
    """Run `command` in its own process group; kill the whole group after `timeout_s`.

    stdout/stderr go to `log_dir/stdout.log` and `log_dir/stderr.log`. Returns (exit code or
    None when killed, timed out?, seconds). A missing executable raises `TTMBenchError`.
    """
    start = time.monotonic()
    with (log_dir / "stdout.log").open("wb") as out, (log_dir / "stderr.log").open("wb") as err:
        try:
            proc = subprocess.Popen(list(command), cwd=cwd, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env={**os.environ, **(env or {})})
        except FileNotFoundError as exc:
            raise TTMBenchError(
                f"cannot run {command[0]!r}: {exc.strerror}; set the upstream environment's "
                "interpreter with --set python=PATH") from exc
        try:
            code: int | None = proc.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            code, timed_out = None, True
        except BaseException:  # interrupted: never leave the tool running behind us
            _kill_group(proc)
            raise
    return code, timed_out, round(time.monotonic() - start, 3)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it is still alive after a grace period."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


# --- reading outputs -------------------------------------------------------------------------


def read_output(path: Path) -> np.ndarray:
    """Decode a tool's output: `.npy` (uint8 [T, H, W, 3]) or any video `read_video` reads."""
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    from ttm_bench.video import read_video

    return read_video(path)


def check_native(video: np.ndarray, native: NativeFormat, path: Path) -> None:
    """Raise `TTMBenchError` unless `video` is uint8 [frames, height, width, 3] as declared."""
    expected = (native.frames, native.height, native.width, 3)
    if video.dtype != np.uint8 or video.shape != expected:
        raise TTMBenchError(f"{path.name}: got {video.dtype} {list(video.shape)}, the preset "
                            f"declares uint8 {list(expected)}; the tool or its settings "
                            "changed the output format")


def find_output(pattern: str) -> Path:
    """The one file matching `pattern` (absolute, may contain `*`)."""
    matches = sorted(Path("/").glob(pattern.lstrip("/"))) if "*" in pattern else (
        [Path(pattern)] if Path(pattern).is_file() else [])
    if len(matches) != 1:
        found = ", ".join(m.name for m in matches) or "nothing"
        raise TTMBenchError(f"expected one output at {pattern}, found {found}")
    return matches[0]


# --- the VideoModel --------------------------------------------------------------------------


def _format(template: str, values: Mapping[str, Any], where: str) -> str:
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise TTMBenchError(f"{where}: template {template!r} cannot be filled ({exc!r}); known "
                            f"fields: {sorted(values)}") from exc


class ExternalModel(VideoModel):
    """A baseline run through its upstream command line (see the module docstring).

    Subclasses set `preset` (a name in `baselines/presets`); `preset_model` makes them.
    """

    preset: ClassVar[str]
    preset_spec: ClassVar[ExternalPreset]

    def load(self, config: Mapping[str, Any], device: str) -> None:
        self.config = dict(config)
        self.device = device
        repo = Path(str(config["repo"])).expanduser()
        if not config["repo"] or not repo.is_dir():
            raise TTMBenchError(
                f"{self.name}: upstream checkout {str(config['repo'])!r} not found; clone it and "
                f"pass --set repo=PATH (see docs/baselines.md#{self.name})")
        self.repo = repo.resolve()
        if shutil.which(str(config["python"])) is None:
            raise TTMBenchError(f"{self.name}: interpreter {config['python']!r} not found; pass "
                                "the upstream environment's python with --set python=PATH")
        for key in self.preset_spec.local_files:
            if not (self.repo / str(config[key])).exists():  # absolute paths join to themselves
                raise TTMBenchError(
                    f"{self.name}: {key} {config[key]!r} not found in {self.repo}; download it "
                    f"as docs/baselines.md#{self.name} describes, or pass --set {key}=PATH")
        if int(config["batch_size"]) < 1:
            raise TTMBenchError(f"{self.name}: batch_size must be >= 1")

    @property
    def batch_size(self) -> int:
        return int(self.config["batch_size"])

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        outcome = self.generate_batch([request])[0]
        if isinstance(outcome, GenerationFailure):
            raise outcome
        return outcome

    def generate_batch(self, requests: Sequence[GenerationRequest]
                       ) -> list[GeneratedVideo | GenerationFailure]:
        """One invocation for all `requests`; if it fails, one invocation per request."""
        outcomes = self._invoke(requests)
        if len(requests) > 1 and all(isinstance(o, GenerationFailure) for o in outcomes):
            return [self._invoke([r])[0] for r in requests]
        return outcomes

    def _work_root(self) -> Path:
        base = Path(self.config["work_dir"]) if self.config["work_dir"] else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"ttm-{self.preset_spec.name}-", dir=base))
        for text in self.preset_spec.path_must_not_contain:
            if text in str(work):
                shutil.rmtree(work)
                raise TTMBenchError(f"{self.name}: the work directory {work} contains {text!r}, "
                                    "which the upstream tool mangles; pass --set work_dir=PATH "
                                    "with a path free of it")
        return work

    def _invoke(self, requests: Sequence[GenerationRequest]
                ) -> list[GeneratedVideo | GenerationFailure]:
        spec = self.preset_spec
        work = self._work_root()
        try:
            inputs, outputs = work / "inputs", work / "outputs"
            inputs.mkdir()
            outputs.mkdir()
            keys = [f"{i:04d}" for i in range(len(requests))]
            try:
                LAYOUTS[spec.layout](requests, keys, inputs, spec.native)
            except TTMBenchError as exc:  # e.g. an empty caption: the batch is retried singly
                return [GenerationFailure(f"{self.name}: {exc}", {"preset": spec.name})
                        for _ in requests]
            seed = requests[0].seed if spec.seed_scope == "invocation" else None
            values = {**self.config, **asdict(spec.native), "repo": str(self.repo),
                      "drivers": str(DRIVERS_DIR), "inputs": str(inputs),
                      "outputs": str(outputs), "seed": "" if seed is None else seed}
            command = [_format(part, values, f"{spec.name} command") for part in spec.command]
            timeout = float(self.config["timeout_startup_s"]) + len(requests) * float(
                self.config["timeout_per_sample_s"])
            code, timed_out, seconds = run_command(command, self.repo, timeout, work,
                                                   env=self._device_env())
            record = InvocationRecord(
                command=shlex.join(command), cwd=str(self.repo), exit_code=code,
                timed_out=timed_out, seconds=seconds, stderr_tail=_tail(work / "stderr.log"),
                batch=tuple(r.sample_id for r in requests), seed=seed)
            return [self._collect(request, key, index, values, record)
                    for index, (request, key) in enumerate(zip(requests, keys, strict=True))]
        finally:
            if not self.config["keep_work"]:
                shutil.rmtree(work, ignore_errors=True)

    def _collect(self, request: GenerationRequest, key: str, index: int,
                 values: Mapping[str, Any], record: InvocationRecord
                 ) -> GeneratedVideo | GenerationFailure:
        sidecar = {"external": record.to_dict(), "preset": self.preset_spec.name}
        if record.timed_out:
            return GenerationFailure(f"{self.name}: timed out after {record.seconds:.0f} s "
                                     f"(command: {record.command})", sidecar)
        if record.exit_code != 0:
            return GenerationFailure(f"{self.name}: exited with code {record.exit_code}; "
                                     f"stderr ends: {record.stderr_tail[-300:]!r}", sidecar)
        try:
            pattern = _format(self.preset_spec.output, {**values, "key": key, "index": index},
                              f"{self.preset_spec.name} output")
            path = find_output(pattern)
            video = read_output(path)
            check_native(video, self.preset_spec.native, path)
        except TTMBenchError as exc:
            return GenerationFailure(f"{self.name}: {exc}", sidecar)
        except (OSError, ValueError) as exc:  # undecodable file
            return GenerationFailure(f"{self.name}: unreadable output ({exc})", sidecar)
        return GeneratedVideo(video, self.preset_spec.native.fps, sidecar)

    def _device_env(self) -> dict[str, str]:
        """Pin the tool to the chosen GPU: `cuda:N` sets CUDA_VISIBLE_DEVICES=N."""
        kind, _, index = self.device.partition(":")
        return {"CUDA_VISIBLE_DEVICES": index} if kind == "cuda" and index else {}


def preset_model(preset: str, class_name: str) -> type[ExternalModel]:
    """An `ExternalModel` subclass named `class_name` for a shipped preset."""
    spec = load_preset(preset)
    return type(class_name, (ExternalModel,), {
        "__doc__": f"{spec.title}, run through its upstream command line.",
        "__module__": __name__,
        "name": spec.name,
        "version": spec.version,
        "preset": preset,
        "preset_spec": spec,
        "default_config": {**ADAPTER_CONFIG, **spec.config},
    })


# The paper's baselines (registered in pyproject.toml under `ttm_bench.models`).
VideoCrafter1I2V = preset_model("videocrafter1-i2v", "VideoCrafter1I2V")
DynamiCrafter256 = preset_model("dynamicrafter-256", "DynamiCrafter256")
DynamiCrafter512 = preset_model("dynamicrafter-512", "DynamiCrafter512")
DynamiCrafter1024 = preset_model("dynamicrafter-1024", "DynamiCrafter1024")
MotionI2V = preset_model("motion-i2v", "MotionI2V")
ConsistI2V = preset_model("consisti2v", "ConsistI2V")
