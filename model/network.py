"""The torch network: the MiniLM encoder, mean pooling and a linear head over the three labels.

all-MiniLM-L6-v2 was trained with mean pooling, so the head reads the masked mean of the
token states rather than the untrained [CLS] pooler.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import BertConfig, BertModel

from model.artifact import LoraConfig
from model.labels import LABELS
from model.lora import LoRALinear, inject_lora

HEAD_PREFIX = "head."


class FeedbackNet(nn.Module):
    """``logits = head(dropout(mean_pool(encoder(input_ids))))``."""

    def __init__(self, encoder: BertModel, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))

    @classmethod
    def from_base(cls, base_dir: str | Path, dropout: float = 0.1) -> FeedbackNet:
        """The base encoder from a Hugging Face folder with a fresh head."""
        # Eager attention exports to a plain ONNX graph that ONNX Runtime quantises well.
        encoder = BertModel.from_pretrained(
            str(base_dir), attn_implementation="eager", add_pooling_layer=False
        )
        return cls(encoder, dropout)

    @classmethod
    def from_config(cls, config_path: str | Path) -> FeedbackNet:
        """An uninitialised network shaped by a saved ``config.json`` (weights loaded next)."""
        config = BertConfig.from_json_file(str(config_path))
        config._attn_implementation = "eager"
        return cls(BertModel(config, add_pooling_layer=False), dropout=0.0)

    def add_lora(self, lora: LoraConfig, dropout: float = 0.0) -> list[str]:
        return inject_lora(self.encoder, lora.targets, lora.rank, lora.alpha, dropout)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The trained weights: LoRA matrices and the head, nothing of the frozen base."""
        state = {
            f"encoder.{name}.{part}": getattr(module, part).detach().contiguous()
            for name, module in self.encoder.named_modules()
            if isinstance(module, LoRALinear)
            for part in ("lora_A", "lora_B")
        }
        state.update(
            {HEAD_PREFIX + k: v.detach().contiguous() for k, v in self.head.state_dict().items()}
        )
        return state

    def save_adapter(self, path: str | Path) -> None:
        save_file(self.adapter_state(), str(path))

    def load_adapter(self, path: str | Path) -> None:
        """Load adapters saved by :meth:`save_adapter` into a network that has :meth:`add_lora`."""
        state = load_file(str(path))
        missing = set(self.adapter_state()) - set(state)
        unexpected = set(state) - set(self.adapter_state())
        if missing or unexpected:
            raise ValueError(
                f"adapter does not fit this network: missing {sorted(missing)[:3]}, "
                f"unexpected {sorted(unexpected)[:3]}"
            )
        with torch.no_grad():
            for key, value in state.items():
                if key.startswith(HEAD_PREFIX):
                    getattr(self.head, key[len(HEAD_PREFIX) :]).copy_(value)
                else:
                    module_name, _, part = key[len("encoder.") :].rpartition(".")
                    getattr(self.encoder.get_submodule(module_name), part).copy_(value)
