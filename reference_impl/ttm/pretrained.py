"""Initialise a U-Net TTM from a text-to-video model: Stable Diffusion 1.5 + AnimateDiff v3.

The paper initialises both stages from a text-to-video model. `components_from_animatediff`
builds the components the architecture config describes, then copies in the VAE, the CLIP text
encoder and, for each stage, the motion U-Net that diffusers' `UNetMotionModel.from_unet2d`
assembles from the image U-Net and the motion adapter. The extra `conv_in` channels and the
object layers keep their zero initialisation. The config, not the pretrained files, defines the
model (so a saved checkpoint rebuilds exactly); pretrained weights that do not fit it are an
error naming the parameters.

Inputs are local directories in diffusers layout (nothing is downloaded): `sd_dir` with `vae/`,
`text_encoder/` and `unet/` (e.g. a snapshot of `stable-diffusion-v1-5`), and `adapter_dir`
(e.g. `guoyww/animatediff-motion-adapter-v1-5-3`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from transformers import CLIPTextModel

from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.config import ArchitectureConfig, Variant
from reference_impl.ttm.unet import TTMUNet
from ttm_bench.errors import TTMBenchError


def _from_pretrained(loader: type, path: Path, what: str) -> torch.nn.Module:
    try:
        return loader.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TTMBenchError(f"cannot load the {what} from {path} ({exc}); point to a local "
                            "diffusers-layout snapshot") from exc


def _copy(target: torch.nn.Module, source: dict[str, torch.Tensor], what: str) -> None:
    expected = target.state_dict()
    missing = sorted(set(expected) - set(source))
    wrong = sorted(k for k in set(expected) & set(source) if expected[k].shape != source[k].shape)
    if missing or wrong:
        raise TTMBenchError(f"the pretrained {what} does not fit the architecture config "
                            f"(missing {missing[:3]}, wrong shape {wrong[:3]}); make the config "
                            "describe the pretrained model")
    target.load_state_dict({k: source[k] for k in expected})


def load_motion_unet(denoiser: TTMUNet, pretrained: UNetMotionModel) -> None:
    """Copy a text-to-video motion U-Net into `denoiser`; new channels and layers stay zero."""
    source = pretrained.state_dict()
    state = {}
    for key, value in denoiser.unet.state_dict().items():
        if ".objects." in key:
            state[key] = value  # the object layers are new
            continue
        origin = source.get(key.replace(".inner.", "."))
        if key == "conv_in.weight" and origin is not None and origin.shape[1] < value.shape[1]:
            widened = torch.zeros_like(value)
            widened[:, : origin.shape[1]] = origin
            origin = widened
        if origin is not None:
            state[key] = origin
    _copy(denoiser.unet, state, "motion U-Net")


def components_from_animatediff(arch: ArchitectureConfig, variant: Variant,
                                sd_dir: str | Path, adapter_dir: str | Path) -> TTMComponents:
    """TTM components for a `unet` architecture, initialised from SD 1.5 + AnimateDiff."""
    if arch.backbone != "unet" or arch.vae["kind"] != "autoencoder_kl":
        raise TTMBenchError(f"architecture {arch.name!r} is not an AnimateDiff U-Net config")
    sd_dir = Path(sd_dir)
    components = TTMComponents(arch, variant)
    vae = _from_pretrained(AutoencoderKL, sd_dir / "vae", "VAE")
    _copy(components.vae.model, vae.state_dict(), "VAE")
    text = _from_pretrained(CLIPTextModel, sd_dir / "text_encoder", "text encoder")
    _copy(components.text.model, text.state_dict(), "text encoder")
    unet2d = _from_pretrained(UNet2DConditionModel, sd_dir / "unet", "image U-Net")
    adapter = _from_pretrained(MotionAdapter, Path(adapter_dir), "motion adapter")
    motion_unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    for denoiser in (components.motion, components.video):
        if denoiser is not None:
            load_motion_unet(denoiser, motion_unet)
    return components
