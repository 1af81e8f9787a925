from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from transformers import CLIPTextConfig, CLIPTextModel

from reference_impl.ttm.config import load_architecture, variant
from reference_impl.ttm.masked_attention import ObjectLayout
from reference_impl.ttm.pretrained import components_from_animatediff
from ttm_bench.errors import TTMBenchError

ARCH = load_architecture("unet-tiny")


def _adapter(max_length: int = 16) -> MotionAdapter:
    return MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1,
                         motion_num_attention_heads=2, motion_norm_num_groups=4,
                         motion_max_seq_length=max_length, use_motion_mid_block=False)


@pytest.fixture(scope="module")
def t2v(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny random 'SD 1.5' snapshot and AnimateDiff adapter matching unet-tiny."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("t2v")
    AutoencoderKL(**ARCH.vae["config"]).save_pretrained(root / "sd" / "vae")
    CLIPTextModel(CLIPTextConfig(**ARCH.text_encoder["config"])).save_pretrained(
        root / "sd" / "text_encoder")
    UNet2DConditionModel(  # attention_head_dim is the head count here (diffusers' SD naming)
        sample_size=8, block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=2,
    ).save_pretrained(root / "sd" / "unet")
    adapter = _adapter()
    for p in adapter.parameters():  # AnimateDiff's zero-initialised outputs made non-trivial
        if not p.any():
            torch.nn.init.normal_(p, std=0.05)
    adapter.save_pretrained(root / "adapter")
    return root / "sd", root / "adapter"


def test_initialised_stages_compute_the_text_to_video_model(t2v):
    sd, adapter_dir = t2v
    components = components_from_animatediff(ARCH, variant("ttm"), sd, adapter_dir).eval()
    reference = UNetMotionModel.from_unet2d(UNet2DConditionModel.from_pretrained(sd / "unet"),
                                            MotionAdapter.from_pretrained(adapter_dir)).eval()
    vae = AutoencoderKL.from_pretrained(sd / "vae")
    assert all(torch.equal(a, b) for a, b in zip(components.vae.model.state_dict().values(),
                                                 vae.state_dict().values(), strict=True))
    torch.manual_seed(1)
    noisy, text = torch.randn(1, 4, 4, 8, 8), torch.randn(1, 5, 32)
    t = torch.tensor([300.0])
    labels = torch.zeros(1, 4, 8, 8, dtype=torch.uint8)
    labels[..., :4, :4] = 1  # the object fills its box, the top-left quadrant
    layout = ObjectLayout(torch.tensor([[[[0.0, 0.0, 0.5, 0.5]]]]).expand(1, 4, 1, 4),
                          torch.ones(1, 4, 1, dtype=torch.bool), torch.randn(1, 2, 32),
                          torch.tensor([[0, 0]]), labels, tuple((f, f + 1) for f in range(4)))
    with torch.no_grad():
        expected = reference(noisy, t, text.repeat_interleave(4, 0)).sample
        for denoiser in (components.motion, components.video):
            conditions = torch.randn(1, 8, 4, 8, 8)
            out = denoiser(noisy, t, conditions, text, layout if denoiser.wrapped else None)
            assert torch.allclose(out, expected, atol=1e-5)


def test_pretrained_weights_that_do_not_fit_the_config_are_an_error(t2v, tmp_path):
    sd, _ = t2v
    _adapter(max_length=8).save_pretrained(tmp_path / "short")
    with pytest.raises(TTMBenchError, match="motion U-Net does not fit"):
        components_from_animatediff(ARCH, variant("ttm"), sd, tmp_path / "short")
    with pytest.raises(TTMBenchError, match="cannot load the motion adapter"):
        components_from_animatediff(ARCH, variant("ttm"), sd, tmp_path / "missing")
    with pytest.raises(TTMBenchError, match="not an AnimateDiff U-Net"):
        components_from_animatediff(load_architecture("dit-tiny"), variant("ttm"), sd, sd)
