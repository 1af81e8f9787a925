import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_impl.ttm.adapter import TTMModel
from reference_impl.ttm.grounding import (
    GroundingDinoDetector,
    Sam2Segmenter,
    best_boxes,
    initial_masks,
    label_token_spans,
)
from tests.ttm_fixtures import ChatServer, write_tiny_checkpoint
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GenerationRequest

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "dog", "red", "ball", "the"]


def test_label_spans_skip_cls_and_separators():
    assert label_token_spans([2, 1, 3]) == [range(1, 3), range(4, 5), range(6, 9)]


def test_best_boxes_pick_the_best_query_per_label_and_convert_to_pixels():
    logits = np.full((3, 8), -10.0)
    logits[1, 1] = 2.0  # query 1 is sure about label 0 (tokens 1-2)
    logits[2, 2] = 0.0  # query 2 half-sure about label 0
    logits[0, 4] = -1.0  # label 1 (token 4): best score sigmoid(-1) = 0.27
    boxes = np.array([[0.5, 0.5, 0.2, 0.2], [0.25, 0.5, 0.5, 1.0], [0.9, 0.9, 0.4, 0.4]])
    found = best_boxes(logits, boxes, [range(1, 3), range(4, 5)], ["dog", "ball"], 0.25, 40, 80)
    assert found[0].label == "dog" and found[0].box == pytest.approx((0, 0, 40, 40))
    assert found[0].score == pytest.approx(1 / (1 + np.exp(-2)))
    assert found[1].box == pytest.approx((32, 16, 48, 24))
    assert best_boxes(logits, boxes, [range(4, 5)], ["ball"], 0.3, 40, 80) == [None]
    clipped = best_boxes(logits, boxes, [range(1, 3)], ["x"], 0.0, 40, 80)
    assert clipped[0].box[2] <= 80


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    """Random-weight Grounding DINO and SAM2 of the real architectures, saved like releases."""
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        ResNetConfig,
        Sam2Config,
        Sam2ImageProcessor,
        Sam2Model,
        Sam2Processor,
    )

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("grounding")
    dino, sam = root / "dino", root / "sam2"
    dino.mkdir()
    (dino / "vocab.txt").write_text("\n".join(VOCAB))
    GroundingDinoForObjectDetection(GroundingDinoConfig(
        backbone_config=ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 16],
                                     depths=[1, 1, 1, 1],
                                     out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32,
                               max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=10,
        num_feature_levels=3, encoder_n_points=2, decoder_n_points=2, max_text_len=32,
        use_timm_backbone=False, backbone=None, use_pretrained_backbone=False,
    )).save_pretrained(dino)
    GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64,
                                                          "longest_edge": 64}),
        tokenizer=BertTokenizer(str(dino / "vocab.txt")),
    ).save_pretrained(dino)
    Sam2Model(Sam2Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam2_hiera_det_model", "hidden_size": 16,
                "embed_dim_per_stage": [16, 32, 64, 128], "blocks_per_stage": [1, 1, 2, 1],
                "num_attention_heads_per_stage": [1, 1, 1, 1],
                "window_size_per_stage": [8, 4, 4, 4], "global_attention_blocks": [3],
                "image_size": [256, 256], "window_positional_embedding_background_size": [4, 4],
            },
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": [[64, 64], [32, 32], [16, 16]], "fpn_hidden_size": 32,
        },
        prompt_encoder_config={"hidden_size": 32, "image_size": 256, "patch_size": 16},
        mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2,
                             "iou_head_hidden_dim": 32},
    )).save_pretrained(sam)
    Sam2Processor(image_processor=Sam2ImageProcessor(size={"height": 256, "width": 256}),
                  ).save_pretrained(sam)
    return dino, sam


def test_detector_and_segmenter_run_on_the_real_architectures(tiny_models):
    dino, sam = tiny_models
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    detector = GroundingDinoDetector(dino, box_threshold=0.0)
    found = detector.detect(image, ["a dog", "red ball"])
    assert [d.label for d in found] == ["a dog", "red ball"]
    for d in found:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 <= x1 <= 64 and 0 <= y0 <= y1 <= 48 and 0 <= d.score <= 1
    masks, kept = initial_masks(image, ["a dog", "red ball"], detector, Sam2Segmenter(sam))
    assert kept == [0, 1] and masks.shape == (2, 48, 64) and masks.dtype == bool
    detector.threshold = 1.01  # nothing passes: objects are dropped, not invented
    masks, kept = initial_masks(image, ["a dog"], detector, Sam2Segmenter(sam))
    assert kept == [] and masks.shape == (0, 48, 64)


def test_missing_weights_are_an_error_not_random_weights(tmp_path):
    with pytest.raises(TTMBenchError, match="Grounding DINO processor weights not found"):
        GroundingDinoDetector(tmp_path / "nothing")
    with pytest.raises(TTMBenchError, match="SAM2 processor weights not found"):
        Sam2Segmenter(tmp_path / "nothing")


def test_adapter_preprocesses_samples_without_objects(tiny_models, tmp_path):
    dino, sam = tiny_models
    answer = {"motion_prompt": "A dog runs after a ball.",
              "objects": [{"label": "a dog", "local_prompt": "A dog running."},
                          {"label": "red ball", "local_prompt": "A red ball rolling."}]}
    chat = ChatServer([json.dumps(answer)])
    try:
        checkpoint = write_tiny_checkpoint(tmp_path, "unet-tiny", "ttm")
        model = TTMModel()
        model.load({**TTMModel.default_config, "checkpoint": str(checkpoint), "steps": 1,
                    "llm_url": chat.url, "llm_model": "m", "prompt_cache": str(tmp_path / "c"),
                    "grounding_model": str(dino), "sam2_model": str(sam),
                    "box_threshold": 0.0}, "cpu")
        request = GenerationRequest(
            sample_id="p1", image=np.zeros((48, 64, 3), np.uint8), caption="A dog chases a ball.",
            num_frames=4, fps=8.0, height=48, width=64, seed=0)
        objects = model.preprocessor.prepare("p1", request.image, request.caption,
                                             request.masks, (), None)
        assert objects.masks.shape == (2, 48, 64)
        assert objects.motion_prompt == "A dog runs after a ball."
        assert objects.local_prompts == ("A dog running.", "A red ball rolling.")
        generated = model.generate(request)
        assert generated.frames.shape == (4, 32, 32, 3)  # the native clip; the runner maps it
        assert generated.trajectory is None  # its objects were found, not the benchmark's
        assert len(chat.requests) == 1 and (tmp_path / "c" / "p1.json").is_file()  # cached
        given = np.ones((1, 48, 64), bool)  # a sample with masks and prompts keeps them
        kept = model.preprocessor.prepare("p2", request.image, "c", given, ("x",), "m")
        assert kept.masks is given and kept.local_prompts == ("x",) and len(chat.requests) == 1
    finally:
        chat.close()
    with pytest.raises(TTMBenchError, match="set all three"):
        TTMModel().load({**TTMModel.default_config, "checkpoint": str(checkpoint),
                         "grounding_model": str(dino)}, "cpu")
