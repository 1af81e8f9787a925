import dataclasses
import json
import types

import numpy as np
import pytest
import torch

from reference_impl.ttm.autoencoder import VideoAutoencoder
from reference_impl.ttm.checkpoint import FORMAT, MANIFEST, load_checkpoint, save_checkpoint
from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.conditioning import object_layout, placement_from_labels, stack_layouts
from reference_impl.ttm.config import VARIANTS, load_architecture, parse_architecture, variant
from reference_impl.ttm.denoiser import build_denoiser
from reference_impl.ttm.masked_attention import ObjectAttention, ObjectLayout
from reference_impl.ttm.text_encoder import PromptEncoder
from reference_impl.ttm.unet import TTMUNet
from ttm_bench.errors import TTMBenchError, UnknownNameError, ValidationError


def _layout(batch: int, frames: int, text_dim: int) -> ObjectLayout:
    """Two objects, the left and the right half, on every frame (one video frame each)."""
    boxes = torch.tensor([[0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0]]).expand(batch, frames, 2, 4)
    labels = torch.ones(batch, frames, 16, 16, dtype=torch.uint8)
    labels[..., 8:] = 2
    return ObjectLayout(boxes.clone(), torch.ones(batch, frames, 2, dtype=torch.bool),
                        torch.randn(batch, 3, text_dim), torch.tensor([[0, 1, 1]] * batch),
                        labels, tuple((f, f + 1) for f in range(frames)))


@pytest.fixture(scope="module", params=["unet-tiny", "dit-tiny"])
def tiny(request):
    torch.manual_seed(0)
    arch = load_architecture(request.param)
    vae = VideoAutoencoder(**arch.vae)
    text = PromptEncoder(**arch.text_encoder)
    return arch, vae, text


def test_vae_shapes_follow_spatial_and_temporal_compression(tiny):
    arch, vae, _ = tiny
    video = torch.rand(1, 3, arch.frames, arch.height, arch.width) * 2 - 1
    with torch.no_grad():
        latents = vae.encode(video)
        frames = vae.latent_frames(arch.frames)
        assert latents.shape == (1, vae.latent_channels, frames, arch.height // vae.spatial_ratio,
                                 arch.width // vae.spatial_ratio)
        assert vae.decode(latents).shape == video.shape
    assert frames == (4 if arch.backbone == "unet" else 3)


def test_local_prompts_pack_valid_tokens_with_their_object(tiny):
    _, _, text = tiny
    with torch.no_grad():
        tokens, owner = text.encode_local([["a dog", "ball"], []])
    # byte tokenizer: one token per byte plus end-of-sequence
    assert owner[0].tolist() == [0] * 6 + [1] * 5
    assert (owner[1] == -1).all() and tokens.shape == (2, 11, text.dim)
    assert text(["a", "b"]).shape == (2, text.max_length, text.dim)


@pytest.mark.parametrize("name", ["ttm", "ti2v", "ttm-masked-self"])
def test_stage_two_denoisers_build_and_start_from_the_unconditioned_function(tiny, name):
    arch, vae, text = tiny
    v = variant(name)
    torch.manual_seed(0)
    model = build_denoiser(arch, "video", v, vae.latent_channels, text.dim).eval()
    frames = vae.latent_frames(arch.frames)
    size = arch.height // vae.spatial_ratio
    noisy = torch.randn(2, vae.latent_channels, frames, size, size)
    conditions = torch.randn(2, vae.latent_channels * (1 if v.trajectory is None else 2),
                             frames, size, size)
    layout, prompt = _layout(2, frames, text.dim), torch.randn(2, 5, text.dim)
    t = torch.tensor([10.0, 500.0])
    with torch.no_grad():
        out = model(noisy, t, conditions, prompt, layout)
        # zero-initialised condition channels and object layers: conditions change nothing yet
        assert torch.allclose(out, model(noisy, t, torch.zeros_like(conditions), prompt, layout),
                              atol=1e-6)
    assert out.shape == noisy.shape and torch.isfinite(out).all()


def test_unet_object_layers_sit_in_the_first_encoder_spatial_blocks():
    arch = load_architecture("unet-tiny")
    model = build_denoiser(arch, "video", variant("ttm"), 4, 32)
    assert isinstance(model, TTMUNet)
    attentions = [a for b in model.unet.down_blocks for a in getattr(b, "attentions", [])]
    assert attentions == model.wrapped and len(model.wrapped) == 2
    assert [w.objects.self_attention.to_q.in_features for w in model.wrapped] == [16, 32]
    assert all(w.objects.self_attention.masked and w.objects.cross_attention.masked
               for w in model.wrapped)
    stage_one = build_denoiser(arch, "motion", variant("ttm"), 4, 32)
    assert stage_one.wrapped == [] and stage_one.unet.conv_in.in_channels == 12


def test_unet_object_layers_see_all_frames_at_their_block_resolution():
    arch = load_architecture("unet-tiny")
    torch.manual_seed(0)
    model = build_denoiser(arch, "video", variant("ttm"), 4, 32).eval()
    seen = []
    for w in model.wrapped:
        w.objects.register_forward_hook(lambda _m, args, _out: seen.append((args[0].shape,
                                                                            args[2])))
    with torch.no_grad():
        model(torch.randn(2, 4, 4, 8, 8), torch.tensor([1.0, 2.0]), torch.randn(2, 8, 4, 8, 8),
              torch.randn(2, 5, 32), _layout(2, 4, 32))
    assert seen == [((2, 4 * 8 * 8, 16), (4, 8, 8)), ((2, 4 * 4 * 4, 32), (4, 4, 4))]
    with pytest.raises(ValueError, match="ObjectLayout"):
        model(torch.randn(1, 4, 4, 8, 8), torch.tensor([1.0]), torch.randn(1, 8, 4, 8, 8),
              torch.randn(1, 5, 32), None)


def _real_scale(name: str) -> TTMComponents:
    """The real config built on the meta device: structure and sizes, no memory, no weights
    (the byte tokenizer stands in for the pretrained one, which is not downloadable here)."""
    arch = load_architecture(name)
    arch = dataclasses.replace(arch, text_encoder={**arch.text_encoder, "tokenizer": "byte"})
    with torch.device("meta"):
        return TTMComponents(arch, variant("ttm"))


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_real_scale_unet_matches_the_paper():
    components = _real_scale("unet-512")
    arch = components.arch
    assert (arch.frames, arch.height, arch.width) == (16, 512, 512)
    video = components.video
    encoder_spatial = [a for b in video.unet.down_blocks for a in getattr(b, "attentions", [])]
    assert len(video.wrapped) == 6 and video.wrapped == encoder_spatial  # K = 6
    assert 1.2e9 < _parameters(video) < 1.5e9  # AnimateDiff scale (the paper: ~1.4B)
    assert components.motion.unet.conv_in.in_channels == 12  # noisy + E(x0) + E(s0)
    assert arch.diffusion["kind"] == "ddim_v_zero_snr"
    assert arch.training["learning_rate"] == 2e-5 and arch.training["batch_size"] == 32


def test_real_scale_dit_matches_the_paper():
    components = _real_scale("dit-256")
    arch = components.arch
    blocks = components.video.blocks
    assert (arch.height, len(blocks)) == (256, 40)
    assert [b.objects is not None for b in blocks] == [True] * 10 + [False] * 30
    assert 3.5e9 < _parameters(components.video) < 4.5e9  # the paper: 4B
    assert arch.diffusion["kind"] == "flow_matching"
    assert components.vae.temporal_ratio == 4 and components.vae.latent_frames(129) == 33


def test_bad_configs_and_names_are_reported():
    with pytest.raises(ValidationError) as info:
        parse_architecture({"backbone": "gan", "frames": 0, "height": 8, "width": 8}, "x.yaml")
    text = str(info.value)
    assert "backbone" in text and "frames" in text and "vae" in text
    with pytest.raises(UnknownNameError, match="unet-tiny"):
        load_architecture("unet-tiny2")
    with pytest.raises(UnknownNameError, match="ttm-masked-self"):
        variant("ttm-masked-slef")


def test_a_missing_pretrained_tokenizer_is_a_clear_error(tmp_path):
    arch = load_architecture("unet-tiny")
    with pytest.raises(TTMBenchError, match="not found locally"):
        PromptEncoder(**{**arch.text_encoder, "tokenizer": str(tmp_path / "no-tokenizer")})


# which stage-2 layers each variant masks: written out, so that a swapped flag anywhere (the
# variant table, the denoiser builder, the layer constructor) fails here
MASKED = {"ttm": (True, True), "ti2v": (False, False), "ttm-no-masked-attn": (False, False),
          "ttm-masked-cross": (False, True), "ttm-masked-self": (True, False),
          "ttm-flow": (False, False)}


def _changes(layer: ObjectAttention, layout: ObjectLayout, grid: tuple[int, int, int],
             edit_tokens: bool) -> bool:
    """Whether object 0's outputs move when object 1's tokens (or its local prompt) change."""
    dim = layer.self_attention.to_q.in_features
    g = torch.Generator().manual_seed(0)
    x = torch.randn(layout.boxes.shape[0], grid[0] * grid[1] * grid[2], dim, generator=g)
    ids = layout.object_ids(grid[1], grid[2])
    edited_x, edited_prompt = x.clone(), layout.local_tokens.clone()
    if edit_tokens:
        edited_x[ids == 2] += 3 * torch.randn(int((ids == 2).sum()), dim, generator=g)
    else:
        edited_prompt[layout.local_token_object == 1] += 3.0
    edited = dataclasses.replace(layout, local_tokens=edited_prompt)
    with torch.no_grad():
        before, after = layer(x, layout, grid), layer(edited_x, edited, grid)
    return not torch.allclose(before[ids == 1], after[ids == 1], atol=1e-5)


@pytest.mark.parametrize("name", sorted(MASKED))
def test_each_variant_masks_exactly_the_layers_it_names(tiny, name):
    arch, vae, text = tiny
    assert set(MASKED) == set(VARIANTS)
    torch.manual_seed(0)
    model = build_denoiser(arch, "video", variant(name), vae.latent_channels, text.dim)
    layers = [m for m in model.modules() if isinstance(m, ObjectAttention)]
    assert len(layers) == arch.denoiser["object_blocks"]
    masked_self, masked_cross = MASKED[name]
    for layer in layers:
        assert (layer.self_attention.masked, layer.cross_attention.masked) == MASKED[name]
    layer = layers[0]
    with torch.no_grad():
        for p in layer.parameters():
            if p.ndim > 1:
                p.normal_(0, 0.3)
    grid = (vae.latent_frames(arch.frames), 4, 6)
    layout = _layout(1, grid[0], text.dim)
    assert _changes(layer, layout, grid, edit_tokens=True) == (not masked_self)
    assert _changes(layer, layout, grid, edit_tokens=False) == (not masked_cross)


@pytest.mark.parametrize("backbone", ["unet-tiny", "dit-tiny"])
def test_object_layers_read_the_grid_as_frames_rows_columns_on_non_square_latents(backbone):
    arch = load_architecture(backbone)
    torch.manual_seed(0)
    model = build_denoiser(arch, "video", variant("ttm"), 4, 32).eval()
    frames = 4 if backbone == "unet-tiny" else 3
    seen = []
    for layer in (m for m in model.modules() if isinstance(m, ObjectAttention)):
        layer.register_forward_hook(lambda _m, args, _out: seen.append(args[2]))
    with torch.no_grad():
        model(torch.randn(1, 4, frames, 8, 4), torch.tensor([1.0]),
              torch.randn(1, 8, frames, 8, 4), torch.randn(1, 5, 32), _layout(1, frames, 32))
    expected = ([(4, 8, 4), (4, 4, 2)] if backbone == "unet-tiny" else [(3, 4, 2)])
    assert seen == expected


def test_placement_follows_rows_columns_and_temporal_groups_of_the_labels():
    # a causal VAE with temporal ratio 2: 5 video frames → latent frames [0], [1, 2], [3, 4]
    vae = types.SimpleNamespace(temporal_ratio=2, causal=True)
    labels = np.zeros((5, 4, 8), np.uint8)
    labels[3:, 2:, 4:] = 1  # the bottom-right quadrant on frames 3 and 4
    placement = placement_from_labels(labels, 1, vae, "cpu")
    assert placement.frame_groups == ((0, 1), (1, 3), (3, 5))
    layout = ObjectLayout(placement.boxes, placement.present, torch.zeros(1, 1, 32),
                          torch.tensor([[0]]), placement.labels, placement.frame_groups)
    expected = torch.zeros(3, 2, 4, dtype=torch.long)
    expected[2, 1, 2:] = 1
    assert torch.equal(layout.object_ids(2, 4)[0], expected.flatten())
    assert torch.equal(layout.membership(2, 4)[0, :, 0], expected.flatten().bool())


def test_the_self_membership_rule_is_recorded_and_old_checkpoints_keep_boxes(tmp_path):
    torch.manual_seed(0)
    components = TTMComponents(load_architecture("unet-tiny"), variant("ttm"))
    path = save_checkpoint(components, tmp_path / "ckpt")
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["format"] == FORMAT
    assert manifest["architecture"]["denoiser"]["self_membership"] == "mask"

    def rules() -> set[tuple[str, str]]:
        return {(m.self_membership, m.self_attention.backend)
                for m in load_checkpoint(path).modules() if isinstance(m, ObjectAttention)}

    assert rules() == {("mask", "grouped")}
    del manifest["architecture"]["denoiser"]["self_membership"]
    (path / MANIFEST).write_text(json.dumps({**manifest, "format": "ttm-bench-reference-ttm/1"}))
    assert rules() == {("box", "sdpa")}  # format 1 was trained with boxes
    with pytest.raises(ValidationError, match="self_membership"):
        data = load_architecture("unet-tiny").to_dict()
        data["denoiser"] = {**data["denoiser"], "self_membership": "boxes"}
        parse_architecture(data, "x.yaml")


def test_layouts_carry_each_samples_label_maps_through_batching(tiny):
    _, _, text = tiny
    vae = types.SimpleNamespace(temporal_ratio=1, causal=False)
    layouts = []
    for k in range(2):
        labels = np.zeros((2, 4, 6), np.uint8)
        labels[:, k * 2:(k + 1) * 2, : 3 + k] = 1  # sample k: rows 2k…2k+1, not symmetric
        placement = placement_from_labels(labels, 1, vae, "cpu")
        layout = object_layout(text, [["a dog"]], placement)
        assert torch.equal(layout.labels[0], torch.from_numpy(labels))
        assert layout.frame_groups == ((0, 1), (1, 2))
        layouts.append(layout)
    batch = stack_layouts(layouts)
    assert torch.equal(batch.labels, torch.cat([lay.labels for lay in layouts]))
    assert torch.equal(batch.object_ids(2, 3)[1], layouts[1].object_ids(2, 3)[0])
    other = dataclasses.replace(layouts[1], frame_groups=((0, 2),))
    with pytest.raises(ValueError, match="frame groups"):
        stack_layouts([layouts[0], other])
