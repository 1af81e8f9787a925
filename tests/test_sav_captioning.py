"""VLM answer parsing, frame strips and the OpenAI-compatible backend against a loopback server."""

import json

import numpy as np
import pytest

from tests.vlm_server import serve_vlm
from ttm_bench.data.sav.captioning import (
    CATEGORY_PROMPT,
    InvalidAnswerError,
    OpenAICompatibleVLM,
    TransformersVLM,
    frame_strip,
    parse_answer,
)
from ttm_bench.errors import TTMBenchError


def test_parse_answer_accepts_fenced_json_and_normalises_category():
    text = '```json\n{"caption": "A  dog\\nruns.", "category": " animal "}\n```'
    answer = parse_answer(text, want_category=True)
    assert answer.caption == "A dog runs." and answer.category == "Animal"


@pytest.mark.parametrize("text, match", [
    ("a dog runs", "no JSON caption"),
    ('{"caption": ""}', "no JSON caption"),
    ('{"caption": "x", "category": "Sports"}', "'Sports' is not one of"),
    ('{"caption": "x"}', "None is not one of"),
])
def test_parse_answer_rejects_unusable_answers(text, match):
    with pytest.raises(InvalidAnswerError, match=match):
        parse_answer(text, want_category=True)


def test_short_caption_needs_no_category():
    assert parse_answer('{"caption": "x"}', want_category=False).category is None


def test_frame_strip_resizes_to_height_and_joins_in_order():
    a = np.zeros((20, 40, 3), np.uint8)
    b = np.full((10, 10, 3), 255, np.uint8)
    strip = frame_strip([a, b], height=10)
    assert strip.shape == (10, 30, 3)
    assert strip[:, :20].max() == 0 and strip[:, 20:].min() == 255


def test_openai_backend_round_trip_sends_image_and_prompt():
    def answer(prompt, image):
        return json.dumps({"caption": f"mean {image.mean():.0f}", "category": "Food"})

    image = np.full((8, 12, 3), 200, np.uint8)
    with serve_vlm(answer) as (url, requests):
        vlm = OpenAICompatibleVLM(url, "llama-3.2-11b-vision")
        text = vlm.describe(image, CATEGORY_PROMPT)
    assert parse_answer(text, want_category=True).caption == "mean 200"
    assert requests[0]["model"] == "llama-3.2-11b-vision" and requests[0]["temperature"] == 0
    assert vlm.identity["model"] == "llama-3.2-11b-vision"


def test_openai_backend_http_error_names_server_and_model():
    with serve_vlm(lambda p, i: "", status=500) as (url, _), \
            pytest.raises(TTMBenchError, match=r"HTTP 500.*--vlm-model"):
        OpenAICompatibleVLM(url, "m").describe(np.zeros((4, 4, 3), np.uint8), "p")


def test_openai_backend_unreachable_server():
    vlm = OpenAICompatibleVLM("http://127.0.0.1:9/v1", "m", timeout_s=2)
    with pytest.raises(TTMBenchError, match=r"cannot reach the VLM server"):
        vlm.describe(np.zeros((4, 4, 3), np.uint8), "p")


def test_transformers_backend_requires_a_checkpoint_directory(tmp_path):
    with pytest.raises(TTMBenchError, match="llama_3_2_11b_vision_instruct"):
        TransformersVLM(tmp_path / "missing")
