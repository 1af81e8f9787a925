"""The local `transformers` VLM backend on a tiny random-weight LLaVA saved to disk."""

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

from ttm_bench.data.sav.captioning import TransformersVLM  # noqa: E402

WORDS = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "USER:", "ASSISTANT:"] + [
    f"w{i}" for i in range(50)]
TEMPLATE = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' "
            "%}<image> {% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} ASSISTANT:")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved LLaVA with a word-level tokenizer, a 32 px CLIP vision tower and 1-layer Llama."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)

    vocab = {w: i for i, w in enumerate(WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", additional_special_tokens=["<image>"])
    vision = transformers.CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8, projection_dim=16)
    text = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2)
    config = transformers.LlavaConfig(vision_config=vision, text_config=text,
                                      image_token_index=vocab["<image>"])
    path = tmp_path_factory.mktemp("tiny-llava")
    transformers.LlavaForConditionalGeneration(config).save_pretrained(path)
    transformers.LlavaProcessor(
        image_processor=transformers.CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=fast, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=TEMPLATE).save_pretrained(path)
    return path


def test_generates_only_new_tokens_deterministically(checkpoint):
    vlm = TransformersVLM(checkpoint, max_new_tokens=4)
    image = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    first = vlm.describe(image, "w1 w2 w3")
    assert first == vlm.describe(image, "w1 w2 w3")
    words = first.split()
    assert len(words) <= 4 and all(w in WORDS for w in words)
    assert "USER:" not in words and "ASSISTANT:" not in words
    assert vlm.identity == {"backend": "transformers", "checkpoint": checkpoint.name,
                            "max_new_tokens": 4, "dtype": "float32"}
