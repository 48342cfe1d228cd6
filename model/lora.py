"""Low-rank adapters (LoRA, Hu et al. 2021, arXiv:2106.09685) for the encoder's linear layers.

Only the adapters and the head are trained and saved, so a model version is a few MB
on top of the base encoder; :func:`merge_lora` folds them back into plain ``Linear``
layers for export, so the built model has no trace of them and runs at base speed.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """``base(x) + (x A^T B^T) * alpha / rank``, with ``base`` frozen and B starting at zero."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        for param in self.base.parameters():
            param.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain ``Linear`` equal to this layer in eval mode."""
        out = nn.Linear(
            self.base.in_features, self.base.out_features, bias=self.base.bias is not None
        )
        with torch.no_grad():
            out.weight.copy_(self.base.weight + (self.lora_B @ self.lora_A) * self.scaling)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


def _replace(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def inject_lora(
    encoder: nn.Module, targets: tuple[str, ...], rank: int, alpha: float, dropout: float = 0.0
) -> list[str]:
    """Wrap every ``Linear`` whose name ends with one of ``targets``; return the wrapped names.

    Every other encoder weight is frozen.
    """
    for param in encoder.parameters():
        param.requires_grad_(False)
    names = [
        name
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear) and any(name.endswith(t) for t in targets)
        # "output.dense" would also match "attention.output.dense": both are wanted,
        # but never wrap a layer twice.
    ]
    if not names:
        raise ValueError(f"no Linear layer matches LoRA targets {targets}")
    for name in names:
        base = encoder.get_submodule(name)
        assert isinstance(base, nn.Linear)
        _replace(encoder, name, LoRALinear(base, rank, alpha, dropout))
    return names


def merge_lora(encoder: nn.Module) -> None:
    """Replace every :class:`LoRALinear` in ``encoder`` with its merged ``Linear``, in place."""
    for name, module in list(encoder.named_modules()):
        if isinstance(module, LoRALinear):
            _replace(encoder, name, module.merged())
