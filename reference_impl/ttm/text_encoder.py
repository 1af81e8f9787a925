"""Prompt encoding: the global prompt c (or c_motion) and the packed local prompts c_local.

The encoder is a `transformers` text model built from a config (`clip`: CLIPTextModel, as in
AnimateDiff/SD 1.5; `t5`: T5EncoderModel) whose weights travel in the TTM checkpoint. The
tokenizer is `byte` (ByT5's byte-level tokenizer, which needs no vocabulary files; used by the
tiny configs) or a local directory holding a pretrained tokenizer.

Local prompts are encoded one object at a time (each in its own context), then the valid
(non-padding) tokens of all objects are concatenated and tagged with their object index; the
batch is right-padded with object index -1 (see `masked_attention.ObjectLayout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import ByT5Tokenizer, CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from ttm_bench.errors import TTMBenchError


class PromptEncoder(nn.Module):
    """Text → token embeddings float [B, max_length, D]."""

    def __init__(self, kind: str, config: dict[str, Any], tokenizer: str = "byte",
                 max_length: int = 77):
        super().__init__()
        if kind == "clip":
            self.model = CLIPTextModel(CLIPTextConfig(**config))
        elif kind == "t5":
            self.model = T5EncoderModel(T5Config(**config))
        else:
            raise TTMBenchError(f"text_encoder.kind {kind!r} is unknown; use clip or t5")
        if tokenizer == "byte":
            self.tokenizer = ByT5Tokenizer()
        else:
            from transformers import AutoTokenizer

            try:
                self.tokenizer = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise TTMBenchError(f"tokenizer {tokenizer!r} not found locally ({exc}); put it "
                                    "in the Hugging Face cache or give its directory") from exc
        self.max_length = max_length
        self.dim = self.model.config.hidden_size

    def _tokens(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.tokenizer(list(prompts), padding="max_length", truncation=True,
                               max_length=self.max_length, return_tensors="pt")
        device = next(self.model.parameters()).device
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        return self.model(input_ids=ids).last_hidden_state, mask.bool()

    def forward(self, prompts: Sequence[str]) -> torch.Tensor:
        """Embeddings of the whole padded sequence, float [B, max_length, D]."""
        return self._tokens(prompts)[0]

    def encode_local(self, local_prompts: Sequence[Sequence[str]],
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pack each sample's object prompts: (tokens float [B, S, D], object long [B, S]).

        S is the longest packed length in the batch (at least 1); padding has object -1.
        """
        packed: list[tuple[torch.Tensor, torch.Tensor]] = []
        device = next(self.model.parameters()).device
        for prompts in local_prompts:
            if prompts:
                tokens, mask = self._tokens(prompts)  # [L, max_length, D], [L, max_length]
                owner = torch.arange(len(prompts), device=device)[:, None].expand_as(mask)
                packed.append((tokens[mask], owner[mask]))
            else:
                packed.append((torch.zeros(0, self.dim, device=device),
                               torch.zeros(0, dtype=torch.long, device=device)))
        length = max([1, *(t.shape[0] for t, _ in packed)])
        tokens = torch.zeros(len(packed), length, self.dim, device=device)
        owners = torch.full((len(packed), length), -1, dtype=torch.long, device=device)
        for i, (t, o) in enumerate(packed):
            tokens[i, : t.shape[0]], owners[i, : o.shape[0]] = t, o
        return tokens, owners
