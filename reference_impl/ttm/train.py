"""Train one stage of a TTM variant on a clip set, with `accelerate` (multi-GPU, resume).

Stage `motion` learns ŝ = f(s_t, t, E(x0), E(s0), c_motion) on the colour-coded ground-truth
masklets (the flow ablation: on the clip's colour-coded optical flow, `flow.py`); stage
`video` learns x̂ = g(x_t, t, E(x0), E(s), c, c_local) with boxes from the ground-truth
masklets. Train stage 1 and stage 2 as two runs writing the same checkpoint (`--init` the
second from the first). The VAE and text encoder stay frozen (choice: as in
AnimateDiff); only the denoiser of the stage trains.

Condition dropout (InstructPix2Pix, so that two-scale guidance works at inference): per sample,
with the configured probabilities, the visual conditions are zeroed, the text (c or c_motion
and every c_local) is emptied, or both.

The paper's recipe (both stages): batch 32, learning rate 2e-5 constant after 2k warm-up steps,
50k steps (`training` in the real configs). Usage:

    accelerate launch -m reference_impl.ttm.train --architecture unet-512 --variant ttm \\
        --stage motion --data CLIPS --output CKPT \
        --sd-dir SD15_SNAPSHOT --motion-adapter-dir ANIMATEDIFF_V3_ADAPTER
    accelerate launch -m reference_impl.ttm.train --architecture unet-512 --variant ttm \
        --stage video --data CLIPS --output CKPT --init CKPT

`--output` holds the TTM checkpoint (both stages) and `state-<stage>/` (optimizer, scheduler,
the global RNGs, the run's own noise/dropout RNGs and the step) to resume that stage: rerun the
same command after an interruption. The data order is a fixed function of the seed and the
step (epoch e shuffles with seed + e), so a resumed run continues the uninterrupted run exactly
(identical weights on CPU). A run without `--init` refuses an `--output` that already holds a
checkpoint it would overwrite with fresh weights.

Memory at the paper's scale: `--checkpoint-object-layers` and `--checkpoint-backbone`
recompute activations in the backward pass instead of keeping them (activation checkpointing).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from reference_impl.ttm.checkpoint import MANIFEST, load_checkpoint, save_checkpoint
from reference_impl.ttm.clips import ClipDataset, TrainingClip
from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.conditioning import (
    absent_placement,
    encode_still,
    object_layout,
    placement_from_labels,
    render_first_frame,
    stack_layouts,
    to_model_space,
)
from reference_impl.ttm.config import load_architecture, variant
from reference_impl.ttm.denoiser import Stage
from reference_impl.ttm.flow import flow_trajectory
from reference_impl.ttm.masked_attention import ObjectAttention, ObjectLayout
from reference_impl.ttm.pretrained import components_from_animatediff
from reference_impl.ttm.trajectories import labels_from_masks, render_mask_video
from ttm_bench.atomic import write_json
from ttm_bench.errors import TTMBenchError


@dataclass(frozen=True)
class Dropout:
    """Probabilities of dropping the visual conditions, the text, or both (exclusive)."""

    visual: float = 0.0
    text: float = 0.0
    both: float = 0.0

    def draw(self, rng: random.Random) -> tuple[bool, bool]:
        """(drop visual, drop text) for one sample."""
        u = rng.random()
        if u < self.visual:
            return True, False
        if u < self.visual + self.text:
            return False, True
        return (True, True) if u < self.visual + self.text + self.both else (False, False)


@dataclass
class StageBatch:
    """Inputs of one denoiser call: latents [B, C, F, h, w] (the clean target), conditions
    [B, Cc, F, h, w], text [B, S, D], layout (None for stage 1)."""

    latents: torch.Tensor
    conditions: torch.Tensor
    text: torch.Tensor
    layout: ObjectLayout | None


@torch.no_grad()
def stage_batch(components: TTMComponents, stage: Stage, clips: Sequence[TrainingClip],
                drops: Sequence[tuple[bool, bool]]) -> StageBatch:
    """Encode clips into the inputs of `stage` (frozen encoders), applying dropped conditions."""
    c, device = components, components.device
    frames = c.vae.latent_frames(c.arch.frames)
    samples = []
    for clip, (drop_visual, drop_text) in zip(clips, drops, strict=True):
        labels = labels_from_masks(clip.masks)  # [T, H, W]
        x0 = encode_still(c.vae, clip.video[0], frames, device)
        rendered = (render_mask_video(labels) if c.variant.trajectory != "flow"
                    else flow_trajectory(clip.video))
        trajectory = c.vae.encode(to_model_space(rendered, device))
        if stage == "motion":
            target = trajectory
            conditions = [x0, encode_still(c.vae, render_first_frame(clip.masks[0]), frames,
                                           device)]
            prompt, local = clip.motion_prompt, None
        else:
            target = c.vae.encode(to_model_space(clip.video, device))
            conditions = [x0] if c.variant.trajectory is None else [x0, trajectory]
            prompt, local = clip.caption, list(clip.local_prompts)
        cond = torch.cat(conditions, 1)
        if drop_visual:
            cond = torch.zeros_like(cond)
        if drop_text:
            prompt, local = "", None if local is None else [""] * len(local)
        layout = None
        if local is not None:
            objects = len(local)
            if c.variant.trajectory != "mask":  # TI2V and flow: unmasked layers, no placement
                placement = absent_placement(frames, objects, device)
            else:
                placement = placement_from_labels(labels, objects, c.vae, device)
            layout = object_layout(c.text, [local], placement)
        samples.append((target, cond, c.text([prompt]), layout))
    layouts = [s[3] for s in samples]
    return StageBatch(torch.cat([s[0] for s in samples]), torch.cat([s[1] for s in samples]),
                      torch.cat([s[2] for s in samples]),
                      None if layouts[0] is None else stack_layouts(layouts))


def stage_loss(components: TTMComponents, denoiser: torch.nn.Module, batch: StageBatch,
               generator: torch.Generator) -> torch.Tensor:
    """Mean squared error between the denoiser's prediction and the diffusion target."""
    noise = torch.randn(batch.latents.shape, generator=generator).to(batch.latents.device)
    noisy, timestep, target = components.diffusion.training_example(batch.latents, noise,
                                                                    generator)
    prediction = denoiser(noisy, timestep, batch.conditions, batch.text, batch.layout)
    return F.mse_loss(prediction.float(), target.float())


@dataclass(frozen=True)
class TrainConfig:
    """One training run; None fields take the architecture's `training` section."""

    architecture: str
    variant: str
    stage: Stage
    data: Path
    output: Path
    steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    warmup_steps: int | None = None
    init: Path | None = None
    sd_dir: Path | None = None
    motion_adapter_dir: Path | None = None
    seed: int = 0
    save_every: int = 1000
    checkpoint_object_layers: bool = False
    checkpoint_backbone: bool = False


class ResumableBatches(Sampler[list[int]]):
    """Batches of dataset indices from `start_batch` on: epoch e is a permutation drawn with
    seed + e, cut into `batch_size` batches (the last partial batch dropped). Endless."""

    def __init__(self, size: int, batch_size: int, seed: int, start_batch: int = 0):
        if size < batch_size:
            raise TTMBenchError(f"the clip set holds {size} clips, fewer than one batch of "
                                f"{batch_size}; add clips or lower --batch-size")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[list[int]]:
        per_epoch = self.size // self.batch_size
        epoch, skip = divmod(self.start_batch, per_epoch)
        while True:
            order = torch.randperm(self.size,
                                   generator=torch.Generator().manual_seed(self.seed + epoch))
            for b in range(skip, per_epoch):
                yield order[b * self.batch_size:(b + 1) * self.batch_size].tolist()
            epoch, skip = epoch + 1, 0


def _refuse_overwrite(config: TrainConfig) -> None:
    """A fresh run must not replace a checkpoint already in `--output`."""
    if not (config.output / MANIFEST).is_file():
        return
    if config.init is not None and config.init.resolve() == config.output.resolve():
        return
    trained = sorted(p.name.removeprefix("state-") for p in config.output.glob("state-*"))
    holds = f" (trained stage(s): {', '.join(trained)})" if trained else ""
    raise TTMBenchError(
        f"{config.output} already holds a TTM checkpoint{holds}; training --stage "
        f"{config.stage} from {'--init ' + str(config.init) if config.init else 'fresh weights'}"
        f" would overwrite it. Pass --init {config.output} to continue from it (e.g. stage 2 "
        "after stage 1), or choose another --output")


def _enable_activation_checkpointing(denoiser: torch.nn.Module, object_layers: bool,
                                     backbone: bool) -> None:
    if object_layers:
        for module in denoiser.modules():
            if isinstance(module, ObjectAttention):
                module.gradient_checkpointing = True
    if backbone:
        denoiser.enable_gradient_checkpointing()


def _setting(config: TrainConfig, training: dict, key: str, fallback: float) -> float:
    value = getattr(config, key)
    return training.get(key, fallback) if value is None else value


def train(config: TrainConfig, progress: bool = True) -> list[float]:
    """Run (or resume) a training run; returns the loss of every step run now."""
    arch = load_architecture(config.architecture)
    method = variant(config.variant)
    if config.stage == "motion" and method.trajectory is None:
        raise TTMBenchError(f"variant {method.name!r} has no stage 1; train --stage video")
    training = arch.training
    steps = int(_setting(config, training, "steps", 50_000))
    batch_size = int(_setting(config, training, "batch_size", 1))
    lr = float(_setting(config, training, "learning_rate", 2e-5))
    warmup = int(_setting(config, training, "warmup_steps", 0))
    dropout = Dropout(**training.get("condition_dropout", {}))

    accelerator = Accelerator()
    torch.manual_seed(config.seed)
    state_dir = config.output / f"state-{config.stage}"
    resuming = (state_dir / "step.json").is_file()
    if not resuming:
        _refuse_overwrite(config)
    if resuming:  # the frozen parts come from the run's own checkpoint, the rest from state/
        components = load_checkpoint(config.output, method.name)
    elif config.init is not None:
        components = load_checkpoint(config.init, method.name)
    elif config.sd_dir is not None and config.motion_adapter_dir is not None:
        components = components_from_animatediff(arch, method, config.sd_dir,
                                                 config.motion_adapter_dir)
    else:
        components = TTMComponents(arch, method)
    components.to(accelerator.device).eval()  # frozen parts: no dropout (T5 has some)
    denoiser = components.motion if config.stage == "motion" else components.video
    components.requires_grad_(False)
    denoiser.requires_grad_(True).train()
    _enable_activation_checkpointing(denoiser, config.checkpoint_object_layers,
                                     config.checkpoint_backbone)
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    denoiser, optimizer, schedule = accelerator.prepare(denoiser, optimizer, schedule)
    start = 0
    rng = random.Random(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if resuming:
        accelerator.load_state(str(state_dir))
        start = json.loads((state_dir / "step.json").read_text())["step"]
        _load_run_rngs(state_dir, rng, generator)
    data = ClipDataset(config.data, arch.frames, arch.height, arch.width)
    # start_batch counts this process's batches; every process draws the same order and
    # accelerate hands each its shard
    loader = accelerator.prepare(DataLoader(
        data, batch_sampler=ResumableBatches(len(data), batch_size, config.seed,
                                             start * accelerator.num_processes),
        collate_fn=list))
    losses: list[float] = []
    bar = tqdm(total=steps, initial=start, disable=not progress, desc=f"train {config.stage}")
    step = start
    for clips in loader:
        if step >= steps:
            break
        batch = stage_batch(components, config.stage, clips, [dropout.draw(rng) for _ in clips])
        loss = stage_loss(components, denoiser, batch, generator)
        accelerator.backward(loss)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if step % config.save_every == 0 or step == steps:
            _save(accelerator, components, state_dir, config.output, step, rng, generator)
    bar.close()
    return losses


_RUN_RNGS = "run_rngs.pt"


def _load_run_rngs(state_dir: Path, rng: random.Random, generator: torch.Generator) -> None:
    path = state_dir / _RUN_RNGS
    if not path.is_file():
        raise TTMBenchError(f"{path} is missing (a state written before resumable RNGs); "
                            f"delete {state_dir} to restart the stage from the checkpoint")
    saved = torch.load(path, weights_only=False)
    rng.setstate(saved["random"])
    generator.set_state(saved["generator"])


def _save(accelerator: Accelerator, components: TTMComponents, state_dir: Path, output: Path,
          step: int, rng: random.Random, generator: torch.Generator) -> None:
    accelerator.wait_for_everyone()
    accelerator.save_state(str(state_dir))
    if accelerator.is_main_process:
        torch.save({"random": rng.getstate(), "generator": generator.get_state()},
                   state_dir / _RUN_RNGS)
        save_checkpoint(components, output)
        write_json(state_dir / "step.json", {"step": step})  # last: marks the state complete


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.ttm.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", required=True, help="config name or YAML path")
    parser.add_argument("--variant", default="ttm")
    parser.add_argument("--stage", choices=["motion", "video"], required=True)
    parser.add_argument("--data", type=Path, required=True, help="clip set directory")
    parser.add_argument("--output", type=Path, required=True, help="checkpoint directory")
    parser.add_argument("--init", type=Path, help="TTM checkpoint to start from")
    parser.add_argument("--sd-dir", type=Path, help="SD 1.5 snapshot (U-Net configs)")
    parser.add_argument("--motion-adapter-dir", type=Path, help="AnimateDiff motion adapter")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=1000)
    parser.add_argument("--checkpoint-object-layers", action="store_true",
                        help="recompute the object layers in the backward pass (less memory)")
    parser.add_argument("--checkpoint-backbone", action="store_true",
                        help="recompute the backbone blocks in the backward pass (less memory)")
    args = parser.parse_args(argv)
    try:
        train(TrainConfig(**{k.replace("-", "_"): v for k, v in vars(args).items()}))
    except TTMBenchError as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

