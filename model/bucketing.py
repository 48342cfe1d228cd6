"""Length-bucketed batches: texts of similar length share a batch, so short ones are not
padded to the length of a long one."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], max_batch: int, max_tokens: int) -> list[list[int]]:
    """Group indices into batches of at most ``max_batch`` rows and ``max_tokens`` padded tokens.

    Rows are sorted by length first; a row longer than ``max_tokens`` gets a batch of its own.

    >>> plan_batches([5, 50, 6, 7], max_batch=8, max_tokens=64)
    [[0, 2, 3], [1]]
    """
    if max_batch < 1 or max_tokens < 1:
        raise ValueError("max_batch and max_tokens must be positive")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # sorted ascending, so this row is the longest of the batch if it joins
        if current and (len(current) >= max_batch or lengths[i] * (len(current) + 1) > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
