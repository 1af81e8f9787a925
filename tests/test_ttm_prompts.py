import json

import pytest

from reference_impl.ttm.prompts import (
    FEW_SHOT,
    OpenAICompatibleBackend,
    TransformersBackend,
    chat_messages,
    derive_prompts,
    parse_prompt_set,
)
from tests.ttm_fixtures import ChatServer
from ttm_bench.errors import TTMBenchError, ValidationError

GOOD = {"motion_prompt": "A dog runs forward.",
        "objects": [{"label": "dog", "local_prompt": "A brown dog running."}]}


@pytest.fixture
def server():
    instances = []

    def start(answers):
        instances.append(ChatServer(answers))
        return instances[-1]

    yield start
    for s in instances:
        s.close()


def test_few_shot_conversation_ends_with_the_caption_and_examples_parse():
    messages = chat_messages("A cat jumps.")
    assert messages[0]["role"] == "system" and messages[-1]["content"] == "Caption: A cat jumps."
    assert len(messages) == 2 + 2 * len(FEW_SHOT)
    for message in messages[2:-1:2]:  # every example answer satisfies the schema
        assert parse_prompt_set(message["content"], "few-shot").objects


def test_validation_accepts_fenced_json_and_reports_every_problem():
    prompts = parse_prompt_set("Sure!\n```json\n" + json.dumps(GOOD) + "\n```", "x")
    assert prompts.motion_prompt == "A dog runs forward."
    assert prompts.objects[0].label == "dog"
    bad = {"motion_prompt": "", "objects": [{"label": "dog"}, "cat"], "colour": "red"}
    with pytest.raises(ValidationError) as info:
        parse_prompt_set(json.dumps(bad), "answer")
    fields = {p.field for p in info.value.problems}
    assert fields == {"colour", "motion_prompt", "objects[0]", "objects[1]"}
    with pytest.raises(ValidationError, match="no JSON object"):
        parse_prompt_set("I cannot help with that.", "answer")


def test_http_backend_retries_invalid_answers_and_caches_per_sample(server, tmp_path):
    chat = server(["not json", json.dumps(GOOD)])
    backend = OpenAICompatibleBackend(chat.url, "llama-3.1-8b", api_key="secret")
    prompts = derive_prompts("A dog runs.", backend, sample_id="s1", cache_dir=tmp_path)
    assert prompts.objects[0].local_prompt == "A brown dog running."
    assert len(chat.requests) == 2
    path, auth, body = chat.requests[0]
    assert path == "/v1/chat/completions" and auth == "Bearer secret"
    assert body["model"] == "llama-3.1-8b" and body["temperature"] == 0.0
    assert body["messages"][-1]["content"] == "Caption: A dog runs."
    # cached: no new request; a changed caption asks again
    assert derive_prompts("A dog runs.", backend, sample_id="s1", cache_dir=tmp_path) == prompts
    assert len(chat.requests) == 2
    chat.answers.append(json.dumps(GOOD))
    derive_prompts("A dog walks.", backend, sample_id="s1", cache_dir=tmp_path)
    assert len(chat.requests) == 3


def test_http_backend_errors_name_the_server(server):
    chat = server(["{}", "{}"])
    backend = OpenAICompatibleBackend(chat.url, "m")
    with pytest.raises(ValidationError, match="motion_prompt"):
        derive_prompts("A dog runs.", backend, sample_id="s2")
    assert len(chat.requests) == 2
    with pytest.raises(TTMBenchError, match="cannot reach the LLM server"):
        OpenAICompatibleBackend("http://127.0.0.1:9/v1", "m", timeout=2).complete([])


def test_transformers_backend_runs_a_local_chat_model(tmp_path):
    import torch
    from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=384, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, pad_token_id=0,
                                         eos_token_id=1, bos_token_id=0))
    tokenizer = ByT5Tokenizer()
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n"
                               "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    backend = TransformersBackend(tmp_path, max_new_tokens=6)
    answer = backend.complete(chat_messages("A dog runs."))
    assert isinstance(answer, str) and backend.key.startswith("transformers:")
    with pytest.raises(ValidationError, match="LLM answer for sample s3"):
        derive_prompts("A dog runs.", backend, sample_id="s3", attempts=1)
    with pytest.raises(TTMBenchError, match="not found"):
        TransformersBackend(tmp_path / "missing")
