"""Tokenisation with head+tail truncation, on the Rust ``tokenizers`` library (no torch).

Comments longer than the model's window keep their opening quarter and their closing
three quarters: customers tend to state the verdict at the end ("...never again") and
the context at the start; the middle is usually the story.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

HEAD_FRACTION = 0.25


@dataclass(frozen=True)
class Encoded:
    """A padded batch: ``input_ids`` and ``attention_mask`` are int64 ``[batch, seq]``."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    truncated: list[bool]


class TextEncoder:
    """Turns texts into model inputs of at most ``max_length`` tokens.

    >>> enc = TextEncoder.from_file("model/default/build/tokenizer.json", 256)  # doctest: +SKIP
    >>> enc.encode(["thanks, sorted"]).input_ids.shape                     # doctest: +SKIP
    (1, 6)
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
        self.max_length = max_length
        self._tok = tokenizer
        self._tok.no_truncation()
        self._tok.no_padding()
        self.cls_id = self._token_id("[CLS]")
        self.sep_id = self._token_id("[SEP]")
        self.pad_id = self._token_id("[PAD]")

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> TextEncoder:
        return cls(Tokenizer.from_file(str(path)), max_length)

    def _token_id(self, token: str) -> int:
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise ValueError(f"tokenizer has no {token} token")
        return int(token_id)

    def token_ids(self, texts: list[str]) -> list[tuple[list[int], bool]]:
        """Token ids of each text with [CLS]/[SEP], cut head+tail to the window, and a truncated flag."""
        budget = self.max_length - 2
        head = int(budget * HEAD_FRACTION)
        out = []
        for encoding in self._tok.encode_batch(texts, add_special_tokens=False):
            ids = encoding.ids
            truncated = len(ids) > budget
            if truncated:
                ids = ids[:head] + ids[len(ids) - (budget - head) :]
            out.append(([self.cls_id, *ids, self.sep_id], truncated))
        return out

    def pad(self, rows: list[tuple[list[int], bool]]) -> Encoded:
        """Pad already-tokenised rows (from :meth:`token_ids`) to the longest in the batch."""
        width = max(len(ids) for ids, _ in rows)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, (ids, _) in enumerate(rows):
            input_ids[i, : len(ids)] = ids
            mask[i, : len(ids)] = 1
        return Encoded(input_ids, mask, [t for _, t in rows])

    def encode(self, texts: list[str]) -> Encoded:
        return self.pad(self.token_ids(texts))
