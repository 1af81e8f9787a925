"""The diffusers adapters on tiny random-weight pipelines built here (no download)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from baselines.diffusers_i2v import (  # noqa: E402
    CogVideoXI2V,
    DiffusersI2V,
    I2VGenXL,
    StableVideoDiffusion,
    to_uint8,
)
from ttm_bench.errors import TTMBenchError  # noqa: E402
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest  # noqa: E402
from ttm_bench.generation.normalize import normalize_video  # noqa: E402


def word_tokenizer():
    """A fast tokenizer over a few words, built in memory (real ones are downloads)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<unk>", "<s>", "</s>", "a", "clip", "moving", "cat"]
    vocab = {w: i for i, w in enumerate(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>",
                                   unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   model_max_length=16)


def clip_vision(image_size: int, patch_size: int):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=32, projection_dim=32, num_hidden_layers=1,
                              num_attention_heads=4, intermediate_size=37,
                              image_size=image_size, patch_size=patch_size)
    processor = CLIPImageProcessor(crop_size=image_size, size=image_size)
    return CLIPVisionModelWithProjection(config), processor


def tiny_svd():
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )

    unet = UNetSpatioTemporalConditionModel(
        sample_size=4, in_channels=8, out_channels=4, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        addition_time_embed_dim=32, projection_class_embeddings_input_dim=96,
        layers_per_block=1, cross_attention_dim=32, num_attention_heads=(2, 4), num_frames=4)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 64), latent_channels=4,
                                       down_block_types=("DownEncoderBlock2D",) * 2)
    encoder, processor = clip_vision(224, 56)  # the pipeline resizes to 224 itself
    scheduler = EulerDiscreteScheduler(prediction_type="v_prediction", use_karras_sigmas=True,
                                       sigma_max=700.0, sigma_min=0.002,
                                       timestep_type="continuous")
    return StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet,
                                        scheduler=scheduler, feature_extractor=processor)


def tiny_i2vgen_xl():
    from diffusers import AutoencoderKL, DDIMScheduler, I2VGenXLPipeline, I2VGenXLUNet
    from transformers import CLIPTextConfig, CLIPTextModel

    unet = I2VGenXLUNet(in_channels=4, out_channels=4, block_out_channels=(32, 64),
                        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), layers_per_block=1,
                        cross_attention_dim=32, attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=(32, 64), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                        num_attention_heads=4, vocab_size=8, projection_dim=32,
                                        max_position_embeddings=16, pad_token_id=0,
                                        bos_token_id=2, eos_token_id=3))
    encoder, processor = clip_vision(32, 4)
    return I2VGenXLPipeline(vae=vae, text_encoder=text, tokenizer=word_tokenizer(), unet=unet,
                            scheduler=DDIMScheduler(), image_encoder=encoder,
                            feature_extractor=processor)


def tiny_cogvideox():
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=4, sample_height=4,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226,
        use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True)
    vae = AutoencoderKLCogVideoX(block_out_channels=(8,) * 4, latent_channels=4,
                                 down_block_types=("CogVideoXDownBlock3D",) * 4,
                                 up_block_types=("CogVideoXUpBlock3D",) * 4, layers_per_block=1,
                                 norm_num_groups=2, temporal_compression_ratio=4)
    text = T5EncoderModel(T5Config(vocab_size=8, d_model=32, d_kv=8, d_ff=37, num_layers=1,
                                   num_heads=4, pad_token_id=0, eos_token_id=3))
    return CogVideoXImageToVideoPipeline(tokenizer=word_tokenizer(), text_encoder=text, vae=vae,
                                         transformer=transformer,
                                         scheduler=CogVideoXDDIMScheduler())


CASES = {  # adapter, builder, tiny native format
    "svd": (StableVideoDiffusion, tiny_svd, {"height": 32, "width": 32, "frames": 4,
                                             "steps": 1, "decode_chunk_size": 2}),
    "i2vgen-xl": (I2VGenXL, tiny_i2vgen_xl, {"height": 32, "width": 32, "frames": 4, "steps": 1}),
    "cogvideox-i2v": (CogVideoXI2V, tiny_cogvideox, {"height": 32, "width": 32, "frames": 9,
                                                     "steps": 1}),
}


def request(seed: int) -> GenerationRequest:
    image = np.zeros((24, 40, 3), np.uint8)
    image[:, :20] = (200, 40, 90)
    return GenerationRequest(sample_id="s", image=image, caption="a moving cat", num_frames=16,
                             fps=8.0, height=24, width=40, seed=seed)


def attached(name: str) -> DiffusersI2V:
    cls, build, tiny = CASES[name]
    torch.manual_seed(0)
    model = cls()
    model.attach(build(), {**cls.default_config, **tiny}, "cpu")
    return model


@pytest.mark.parametrize("name", ["svd", pytest.param("i2vgen-xl", marks=pytest.mark.slow),
                                  pytest.param("cogvideox-i2v", marks=pytest.mark.slow)])
def test_generates_native_clip_seeded_by_the_request(name):
    model = attached(name)
    tiny = CASES[name][2]
    first, again, other = (model.generate(request(s)) for s in (7, 7, 8))
    assert isinstance(first, GeneratedVideo)
    assert first.frames.dtype == np.uint8
    assert first.frames.shape == (tiny["frames"], tiny["height"], tiny["width"], 3)
    assert first.fps == model.default_config["fps"]
    assert first.record["diffusers"]["pipeline"] == model.pipeline_class
    np.testing.assert_array_equal(first.frames, again.frames)  # same seed, same video
    assert not np.array_equal(first.frames, other.frames)
    video, record = normalize_video(first, request(7))
    assert video.shape == (16, 24, 40, 3) and record.source_frames == tiny["frames"]


def test_missing_weights_name_the_download(tmp_path):
    model = StableVideoDiffusion()
    config = {**StableVideoDiffusion.default_config, "weights": str(tmp_path / "svd")}
    with pytest.raises(TTMBenchError, match="huggingface-cli download"):
        model.load(config, "cpu")
    with pytest.raises(TTMBenchError, match="dtype"):
        model.load({**config, "dtype": "float8"}, "cpu")


def test_to_uint8_rounds_and_clips():
    frames = np.array([-0.5, 0.0, 0.5 / 255, 0.5, 1.0, 2.0], np.float32).reshape(1, 1, 6, 1)
    assert to_uint8(frames).ravel().tolist() == [0, 0, 1, 128, 255, 255]


def test_defaults_follow_the_model_cards():
    svd, i2v, cog = (c.default_config for c in (StableVideoDiffusion, I2VGenXL, CogVideoXI2V))
    assert (svd["frames"], svd["height"], svd["width"], svd["fps"]) == (25, 576, 1024, 7)
    assert (i2v["frames"], i2v["height"], i2v["width"], i2v["guidance_scale"]) == (
        16, 704, 1280, 9.0)
    assert (cog["frames"], cog["height"], cog["width"], cog["fps"]) == (49, 480, 720, 8)
    assert all(c["local_files_only"] for c in (svd, i2v, cog))
