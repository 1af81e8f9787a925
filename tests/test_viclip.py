"""ViCLIP compatibility with the upstream InternVid code, and the viclip_* metrics.

Both data files were produced by running the upstream model code (OpenGVLab/InternVideo at
commit 3965eef16e2dadd0ea6c8d0cc29c8a3039df52e3, `Data/InternVid/viclip/`, torch 2.14.1, CPU)
outside this repository; neither that code nor the script is part of it.
tests/data/viclip_l14_state_dict_shapes.json is the parameter name → shape list of upstream
`ViCLIP(size="l")` (the keys of the released checkpoint). tests/data/viclip_tiny_golden.npz holds
upstream outputs for a tiny configuration (TINY below: upstream `VisionTransformer` and
`CLIP_TEXT` with these sizes) whose weights follow `tiny_state_dict`: every tensor of the sorted
state dict drawn from one seeded torch.Generator, times 0.1. Inputs: the CAPTIONS below
(upstream tokenizer, context 32), `default_rng(0)` uint8 video [10, 40, 50, 3] through upstream
`frames2tensor(fnum=4, target_size=(28, 28))`, and a `manual_seed(1)` float tensor
[2, 4, 3, 28, 28].
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, MissingWeightsError
from ttm_bench.metrics.feature_cache import FeatureCache
from ttm_bench.metrics.registry import create_metric
from ttm_bench.metrics.viclip.model import L14, ViCLIP, ViCLIPConfig, load_viclip
from ttm_bench.metrics.viclip.preprocess import frame_indices, tokenize, video_pixels

DATA = Path(__file__).parent / "data"
TINY = ViCLIPConfig(image_size=28, patch_size=14, num_frames=4, vision_width=32, vision_layers=2,
                    vision_heads=4, embed_dim=16, context_length=32, text_width=32, text_layers=2,
                    text_heads=4)
TINY_PARAMS = {"num_frames": 4, "size": 28}
CAPTIONS = ["a dog runs across the park", "A red ball.", "",
            " ".join(["word"] * 40) + " end"]


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "viclip_tiny_golden.npz"))


def tiny_state_dict() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {k: torch.randn(v.shape, generator=generator) * 0.1
            for k, v in sorted(ViCLIP(TINY).state_dict().items())}


@pytest.fixture(scope="module")
def tiny_model(tiny_viclip: ViCLIP, golden: dict[str, np.ndarray]) -> ViCLIP:
    """`tiny_viclip` (conftest: TINY with `tiny_state_dict`), checked against the golden file."""
    total = sum(float(v.double().abs().sum()) for v in tiny_viclip.state_dict().values())
    assert total == pytest.approx(float(golden["weights_abs_sum"][0]), rel=1e-12), \
        "torch's seeded generator changed: the tiny weights no longer match the golden file"
    return tiny_viclip


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TTM_BENCH_WEIGHTS_DIR", raising=False)


def test_l14_parameters_match_released_checkpoint_keys() -> None:
    upstream = json.loads((DATA / "viclip_l14_state_dict_shapes.json").read_text())
    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in ViCLIP(L14).state_dict().items()}
    assert ours == upstream
    assert len(ours) == 447


#: InternVid's tokenizer (OpenAI CLIP's simple_tokenizer) on captions with the literal special
#: strings: `<|endoftext|>` is the end-of-text token 49407 where it stands (the text encoder
#: pools the first one), `<|startoftext|>` is 49406; open_clip's spelling is ordinary text.
SPECIAL_CAPTIONS = {
    "a cat <|endoftext|> jumps": [49406, 320, 2368, 49407, 18911, 49407],
    "<|startoftext|>a cat": [49406, 49406, 320, 2368, 49407],
    "A <|EndOfText|> b": [49406, 320, 49407, 321, 49407],
    "a cat <end_of_text> jumps": [49406, 320, 2368, 283, 806, 318, 539, 318, 4160, 285, 18911,
                                  49407],
}


def test_tokenizer_treats_upstream_special_strings_as_special() -> None:
    tokens = tokenize(list(SPECIAL_CAPTIONS), 32)
    for row, expected in zip(tokens.tolist(), SPECIAL_CAPTIONS.values(), strict=True):
        assert row == expected + [0] * (32 - len(expected))
    assert tokens[0].argmax().item() == 3  # pooled at the caption's own end-of-text


def test_tokenizer_matches_upstream(golden: dict[str, np.ndarray]) -> None:
    tokens = tokenize(CAPTIONS, 32)
    np.testing.assert_array_equal(tokens.numpy(), golden["tokens"])
    assert tokens[3, -1] == 49407  # truncated captions keep end-of-text last


def test_preprocessing_matches_upstream(golden: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(video_pixels(golden["video"], 4, 28).numpy(), golden["pixels"][0],
                               atol=1e-6)
    np.testing.assert_array_equal(frame_indices(10, 4), [0, 2, 4, 6])
    np.testing.assert_array_equal(frame_indices(16, 8), [0, 2, 4, 6, 8, 10, 12, 14])


def test_towers_reproduce_upstream_golden(tiny_model: ViCLIP,
                                          golden: dict[str, np.ndarray]) -> None:
    with torch.inference_mode():
        text = tiny_model.text_encoder(torch.from_numpy(golden["tokens"]).long())
        raw = tiny_model.vision_encoder(torch.from_numpy(golden["raw_input"]))
        video = tiny_model.vision_encoder(video_pixels(golden["video"], 4, 28)[None])
    np.testing.assert_allclose(text.numpy(), golden["text_embeds"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(raw.numpy(), golden["raw_embeds"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(video.numpy(), golden["video_embeds"], atol=1e-5, rtol=0)


def test_load_viclip_is_strict(tmp_path: Path, tiny_model: ViCLIP) -> None:
    good = tmp_path / "good.pth"
    torch.save({"model": tiny_state_dict()}, good)
    loaded = load_viclip(good, cfg=TINY)
    assert all(torch.equal(a, b) for a, b in
               zip(loaded.state_dict().values(), tiny_model.state_dict().values(), strict=True))
    bad = tmp_path / "bad.pth"
    state = tiny_state_dict()
    del state["temp"]
    torch.save({"model": state}, bad)
    with pytest.raises(MissingWeightsError, match=r"bad\.pth does not match .*temp"):
        load_viclip(bad, cfg=TINY)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(MissingWeightsError, match="not a readable PyTorch checkpoint"):
        load_viclip(garbage, cfg=TINY)


def make_metric(name: str, model: ViCLIP, **kw: object):
    metric = create_metric(name, model=model, **TINY_PARAMS, **kw)
    metric.setup("cpu")
    return metric


def test_viclip_t_is_cosine_of_upstream_embeddings(tiny_model: ViCLIP,
                                                   golden: dict[str, np.ndarray]) -> None:
    metric = make_metric("viclip_t", tiny_model)
    metric.update(EvalItem("s0", "single", golden["video"], 8.0, caption=CAPTIONS[0]))
    text, video = golden["text_embeds"][0], golden["video_embeds"][0]
    expected = text @ video / np.linalg.norm(text) / np.linalg.norm(video)
    assert metric.per_sample()["s0"] == pytest.approx(expected, abs=1e-5)
    assert metric.preset.metric == "viclip_t"


def test_viclip_v_identical_and_static_videos_score_one(tiny_model: ViCLIP) -> None:
    rng = np.random.default_rng(3)
    video = rng.integers(0, 256, (9, 30, 40, 3), dtype=np.uint8)
    image = video[0]
    viclip_v = make_metric("viclip_v", tiny_model)
    viclip_v.update(EvalItem("a", "single", video, 8.0, reference=video.copy()))
    assert viclip_v.compute() == pytest.approx(1.0, abs=1e-6)
    static = make_metric("viclip_v_static", tiny_model)
    static.update(EvalItem("a", "single", np.repeat(image[None], 5, 0), 8.0, image=image))
    static.update(EvalItem("b", "single", video, 8.0, image=image))
    values = static.per_sample()
    assert values["a"] == pytest.approx(1.0, abs=1e-6)
    assert -1.0 <= values["b"] < 0.999


def test_bad_inputs_name_the_sample_and_frames(tiny_model: ViCLIP) -> None:
    metric = make_metric("viclip_t", tiny_model)
    short = np.zeros((3, 28, 28, 3), np.uint8)
    with pytest.raises(TTMBenchError, match=r"video 'x' has 3 frame\(s\); .* at least 4"):
        metric.update(EvalItem("x", "single", short, 8.0, caption="c"))
    rgba = np.zeros((4, 28, 28, 4), np.uint8)
    with pytest.raises(TTMBenchError, match="RGBA"):
        metric.update(EvalItem("y", "single", rgba, 8.0, caption="c"))
    deep = np.zeros((4, 28, 28, 3), np.uint16)
    with pytest.raises(TTMBenchError, match="uint16"):
        metric.update(EvalItem("z", "single", deep, 8.0, caption="c"))
    with pytest.raises(TTMBenchError, match="no ground-truth clip"):
        make_metric("viclip_v", tiny_model).update(EvalItem("w", "single", short[[0] * 4], 8.0))


def test_preset_that_does_not_fit_the_model_is_refused(tiny_model: ViCLIP) -> None:
    metric = create_metric("viclip_t", model=tiny_model)  # preset: 8 frames at 224 px
    with pytest.raises(TTMBenchError, match="preset asks for 8 frames of 224px"):
        metric.setup("cpu")


def test_missing_checkpoint_stops_setup() -> None:
    metric = create_metric("viclip_v")
    with pytest.raises(MissingWeightsError, match=r"ViClip-InternVid-10M-FLT\.pth"):
        metric.setup("cpu")


def test_video_features_are_cached_per_weights(tiny_model: ViCLIP, tmp_path: Path) -> None:
    video = np.random.default_rng(4).integers(0, 256, (8, 28, 28, 3), dtype=np.uint8)
    item = EvalItem("a", "single", video, 8.0, caption="a cat", video_sha256="ab" * 32)
    first = make_metric("viclip_t", tiny_model, feature_cache=FeatureCache(tmp_path / "f"))
    first.update(item)
    again = make_metric("viclip_t", tiny_model, feature_cache=FeatureCache(tmp_path / "f"))
    again.update(item)
    assert (first.feature_cache.misses, again.feature_cache.hits) == (2, 2)  # video + caption
    assert again.per_sample() == first.per_sample()
    other = ViCLIP(TINY).eval()
    other.load_state_dict({k: v * 2 for k, v in tiny_state_dict().items()})
    changed = make_metric("viclip_t", other, feature_cache=FeatureCache(tmp_path / "f"))
    assert changed.feature_hash != first.feature_hash


def test_videos_of_several_samples_share_full_batches(tiny_model: ViCLIP) -> None:
    rng = np.random.default_rng(7)
    clips = [rng.integers(0, 256, (6, 30, 34, 3), dtype=np.uint8) for _ in range(6)]
    items = [EvalItem(f"v{i}", "single", clips[i], 8.0, caption=CAPTIONS[i % 2],
                      reference=clips[i + 3]) for i in range(3)]
    batch_sizes: list[int] = []
    hook = tiny_model.vision_encoder.register_forward_hook(
        lambda module, args, output: batch_sizes.append(len(args[0])))
    try:
        # 3 (viclip_t) or 6 (viclip_v: video and reference) videos: one full batch while
        # updating, which completes v0 and v1, then the rest padded to a full batch
        for name, size in (("viclip_t", 2), ("viclip_v", 4)):
            batch_sizes.clear()
            metric = make_metric(name, tiny_model, batch_videos=size,
                                 feature_cache=FeatureCache(None))
            for item in items:
                metric.update(item)
            assert batch_sizes == [size], name
            assert metric.sample_ids == ["v0", "v1", "v2"]
            assert batch_sizes == [size, size], name
            values = metric.per_sample()
            alone = make_metric(name, tiny_model, batch_videos=size,
                                feature_cache=FeatureCache(None))
            one = make_metric(name, tiny_model, batch_videos=1, feature_cache=FeatureCache(None))
            assert one.batch_videos == 1
            for item in items:  # fixed batch shapes: the same bits as alone
                assert values[item.sample_id] == alone.score(item), name
                assert values[item.sample_id] == pytest.approx(one.score(item), abs=1e-6), name
    finally:
        hook.remove()


def test_batch_videos_is_not_part_of_the_preset(tiny_model: ViCLIP) -> None:
    default = create_metric("viclip_t", model=tiny_model, **TINY_PARAMS)
    batched = create_metric("viclip_t", model=tiny_model, batch_videos=5, **TINY_PARAMS)
    assert batched.preset.hash == default.preset.hash
    default.setup("cpu")
    assert default.batch_videos == 1  # on the CPU; ACCELERATOR_BATCH_VIDEOS elsewhere
    with pytest.raises(TTMBenchError, match="batch_videos=0"):
        create_metric("viclip_t", model=tiny_model, batch_videos=0)


def test_an_invalid_sample_leaves_nothing_queued(tiny_model: ViCLIP) -> None:
    video = np.random.default_rng(8).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    forwards: list[int] = []
    hook = tiny_model.vision_encoder.register_forward_hook(
        lambda module, args, output: forwards.append(len(args[0])))
    try:
        metric = make_metric("viclip_v", tiny_model, batch_videos=1)
        with pytest.raises(TTMBenchError, match="video 'bad' has 2 frame"):
            metric.update(EvalItem("bad", "single", video[:2], 8.0, reference=video + 1))
        metric.update(EvalItem("good", "single", video, 8.0, reference=video))
        assert metric.per_sample() == {"good": pytest.approx(1.0, abs=1e-6)}
        assert forwards == [1, 1]  # the bad sample's reference was never embedded
    finally:
        hook.remove()


@pytest.mark.slow
def test_a_checkpoint_with_the_upstream_keys_loads_strictly_into_l14(tmp_path: Path) -> None:
    shapes = json.loads((DATA / "viclip_l14_state_dict_shapes.json").read_text())
    path = tmp_path / "ViClip-InternVid-10M-FLT.pth"
    torch.save({"model": {k: torch.full(v, 0.01) for k, v in shapes.items()}}, path)
    model = load_viclip(path)
    assert float(model.temp.detach()) == pytest.approx(0.01)
    assert model.vision_encoder.temporal_positional_embedding.shape == (1, 8, 1024)
