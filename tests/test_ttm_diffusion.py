import numpy as np
import pytest
import torch

from reference_impl.ttm.diffusion import (
    DDIMVPrediction,
    FlowMatching,
    build_diffusion,
    combine_guidance,
    linear_quadratic,
)
from ttm_bench.errors import TTMBenchError

SHAPE = (2, 4, 3, 5, 5)


def _target() -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))


def test_two_scale_guidance_reduces_to_its_terms():
    g = torch.Generator().manual_seed(1)
    u, v, f = (torch.randn(3, generator=g) for _ in range(3))
    assert torch.allclose(combine_guidance(u, v, f, 0.0, 0.0), u)
    assert torch.allclose(combine_guidance(u, v, f, 1.0, 1.0), f)
    assert torch.allclose(combine_guidance(u, v, f, 1.0, 0.0), v)
    assert torch.allclose(combine_guidance(u, v, f, 2.0, 3.0), u + 2 * (v - u) + 3 * (f - v))


def test_linear_quadratic_schedule_shape():
    sigmas = linear_quadratic(10, 0.5, 0.025).astype(np.float64)
    assert sigmas[0] == 1.0 and len(sigmas) == 10
    assert np.allclose(np.diff(sigmas[:6]), -0.005)  # linear: 0.025 over 5 steps, continuous
    assert np.all(np.diff(sigmas) < 0) and sigmas[-1] > 0
    # the quadratic part continues with the same slope and would reach 0 at step 10
    s = np.arange(5, 10) - 5.0
    a, b, c = np.polyfit(s, sigmas[5:], 2)
    assert b == pytest.approx(-0.005, abs=1e-6) and c == pytest.approx(0.975, abs=1e-6)
    assert a * 25 + b * 5 + c == pytest.approx(0.0, abs=1e-6)
    assert linear_quadratic(1).tolist() == [1.0]
    with pytest.raises(TTMBenchError, match="at least 1 step"):
        linear_quadratic(0)


def test_ddim_is_zero_terminal_snr_and_recovers_the_target_with_an_oracle():
    process = DDIMVPrediction(steps=5)
    alphas = process.scheduler.alphas_cumprod
    assert alphas[-1] == 0.0
    x0 = _target()

    def oracle(noisy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = alphas[t.long()].view(-1, 1, 1, 1, 1)
        eps = (noisy - a.sqrt() * x0) / (1 - a).sqrt()
        return a.sqrt() * eps - (1 - a).sqrt() * x0

    out = process.sample(oracle, torch.randn(SHAPE, generator=torch.Generator().manual_seed(2)))
    assert torch.allclose(out, x0, atol=1e-4)


def test_ddim_training_example_is_consistent():
    process = DDIMVPrediction()
    x0, noise = _target(), torch.randn(SHAPE)
    noisy, t, v = process.training_example(x0, noise, torch.Generator().manual_seed(0))
    a = process.scheduler.alphas_cumprod[t.long()].view(-1, 1, 1, 1, 1)
    assert torch.allclose(noisy, a.sqrt() * x0 + (1 - a).sqrt() * noise, atol=1e-5)
    assert torch.allclose(a.sqrt() * noisy - (1 - a).sqrt() * v, x0, atol=1e-5)


def test_flow_matching_training_and_euler_sampling_with_an_oracle():
    process = FlowMatching(steps=6)
    x0, noise = _target(), torch.randn(SHAPE)
    noisy, t, velocity = process.training_example(x0, noise, torch.Generator().manual_seed(0))
    sigma = (t / 1000).view(-1, 1, 1, 1, 1)
    assert torch.allclose(noisy - sigma * velocity, x0, atol=1e-5)
    assert torch.allclose(noisy + (1 - sigma) * velocity, noise, atol=1e-5)

    def oracle(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        return (x - x0) / (timestep / 1000).view(-1, 1, 1, 1, 1)

    seen: list[float] = []

    def recording(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        seen.append(float(timestep[0]) / 1000)
        return oracle(x, timestep)

    out = process.sample(recording, noise)
    assert torch.allclose(out, x0, atol=1e-4)
    assert np.allclose(seen, linear_quadratic(6), atol=1e-6)


def test_build_diffusion_rejects_unknown_kinds():
    assert isinstance(build_diffusion({"kind": "flow_matching", "steps": 3}), FlowMatching)
    with pytest.raises(TTMBenchError, match="ddim_v_zero_snr or flow_matching"):
        build_diffusion({"kind": "ddpm"})
