"""The two diffusion processes of the paper: training targets, samplers and two-scale guidance.

- `DDIMVPrediction` (U-Net): scaled-linear betas rescaled to zero terminal SNR (the paper calls
  this critical for mask generation: at the last training step the model sees pure noise, as
  at the first sampling step), v-prediction, DDIM sampling with trailing timestep spacing
  (so sampling starts at t = T), all with diffusers' `DDIMScheduler`.
- `FlowMatching` (DiT): x_t = (1 − σ)·x0 + σ·ε, the model predicts the velocity ε − x0; σ is
  drawn logit-normally in training (Movie Gen) and sampled with first-order Euler
  (`FlowMatchEulerDiscreteScheduler`) over the linear-quadratic schedule of `linear_quadratic`.
- Guidance (InstructPix2Pix): with ∅ for dropped conditions,
  ε̂ = ε(∅, ∅) + s_v·(ε(v, ∅) − ε(∅, ∅)) + s_t·(ε(v, t) − ε(v, ∅)),
  v = all visual conditions (E(x0), E(s0) or E(ŝ)), t = all text (c or c_motion, and c_local).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

from ttm_bench.errors import TTMBenchError

Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (noisy, timestep [B]) → pred


def combine_guidance(uncond: torch.Tensor, visual: torch.Tensor, full: torch.Tensor,
                     visual_scale: float, text_scale: float) -> torch.Tensor:
    """InstructPix2Pix two-scale classifier-free guidance of three predictions."""
    return uncond + visual_scale * (visual - uncond) + text_scale * (full - visual)


def linear_quadratic(steps: int, linear_fraction: float = 0.5,
                     threshold_noise: float = 0.025) -> np.ndarray:
    """Noise levels σ_0 = 1 > … > σ_{steps−1} > 0 (the sampler appends σ = 0).

    The first `linear_fraction·steps` steps descend linearly to 1 − threshold_noise (fine steps
    where the coarse structure forms); the remaining steps follow the quadratic that continues
    with the same value and slope and reaches 0 at step `steps`.
    """
    if steps < 1:
        raise TTMBenchError(f"the sampler needs at least 1 step, got {steps}")
    if steps == 1:
        return np.ones(1, np.float32)  # one Euler step from pure noise to σ = 0
    linear = min(steps - 1, max(1, round(steps * linear_fraction)))
    slope = threshold_noise / linear
    index = np.arange(steps, dtype=np.float64)
    rest = steps - linear
    c, b = 1 - threshold_noise, -slope
    a = (-c - b * rest) / rest**2
    s = index - linear
    sigmas = np.where(index < linear, 1 - slope * index, a * s**2 + b * s + c)
    return sigmas.astype(np.float32)


class Diffusion(ABC):
    """Training targets and sampling for one diffusion process; timesteps are float in [0, 1000].

    Subclasses hold a diffusers `scheduler` and say how to set its timesteps.
    """

    steps: int
    scheduler: DDIMScheduler | FlowMatchEulerDiscreteScheduler

    @abstractmethod
    def training_example(self, latents: torch.Tensor, noise: torch.Tensor,
                         generator: torch.Generator | None = None,
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy latents, timestep float [B], regression target) for clean `latents`."""

    @abstractmethod
    def set_timesteps(self, steps: int, device: torch.device) -> None:
        """Prepare the scheduler for `steps` sampling steps."""

    def sample(self, predict: Predict, noise: torch.Tensor, steps: int | None = None,
               ) -> torch.Tensor:
        """Denoise from `noise` (float [B, C, F, h, w]) with `predict`; returns clean latents."""
        self.set_timesteps(steps or self.steps, noise.device)
        x = noise
        for t in self.scheduler.timesteps:
            timestep = torch.full((x.shape[0],), float(t), device=x.device)
            x = self.scheduler.step(predict(x, timestep), t, x).prev_sample
        return x


class DDIMVPrediction(Diffusion):
    """DDIM, v-prediction, zero terminal SNR."""

    def __init__(self, train_timesteps: int = 1000, beta_start: float = 0.00085,
                 beta_end: float = 0.012, steps: int = 50):
        self.steps = steps
        self.scheduler = DDIMScheduler(
            num_train_timesteps=train_timesteps, beta_start=beta_start, beta_end=beta_end,
            beta_schedule="scaled_linear", prediction_type="v_prediction",
            rescale_betas_zero_snr=True, timestep_spacing="trailing", clip_sample=False,
            set_alpha_to_one=True,
        )

    def training_example(self, latents, noise, generator=None):
        count = self.scheduler.config.num_train_timesteps
        t = torch.randint(0, count, (latents.shape[0],), generator=generator)
        t = t.to(latents.device)
        noisy = self.scheduler.add_noise(latents, noise, t)
        return noisy, t.float(), self.scheduler.get_velocity(latents, noise, t)

    def set_timesteps(self, steps, device):
        self.scheduler.set_timesteps(steps, device=device)


class FlowMatching(Diffusion):
    """Rectified flow with velocity prediction; Euler on the linear-quadratic schedule."""

    def __init__(self, steps: int = 50, linear_fraction: float = 0.5,
                 threshold_noise: float = 0.025):
        self.steps, self.linear_fraction, self.threshold = steps, linear_fraction, threshold_noise
        self.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)

    def training_example(self, latents, noise, generator=None):
        normal = torch.randn(latents.shape[0], generator=generator).to(latents.device)
        sigma = torch.sigmoid(normal)  # logit-normal(0, 1)
        s = sigma.view(-1, *[1] * (latents.ndim - 1)).to(latents.dtype)
        noisy = (1 - s) * latents + s * noise
        return noisy, sigma * 1000, noise - latents

    def set_timesteps(self, steps, device):
        sigmas = linear_quadratic(steps, self.linear_fraction, self.threshold)
        self.scheduler.set_timesteps(sigmas=sigmas.tolist(), device=device)


def build_diffusion(options: dict[str, Any]) -> Diffusion:
    """From the config's `diffusion` section."""
    kwargs = {k: v for k, v in options.items() if k != "kind"}
    if options.get("kind") == "ddim_v_zero_snr":
        return DDIMVPrediction(**kwargs)
    if options.get("kind") == "flow_matching":
        return FlowMatching(**kwargs)
    raise TTMBenchError(f"diffusion.kind {options.get('kind')!r} is unknown; use "
                        "ddim_v_zero_snr or flow_matching")
