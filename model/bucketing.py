"""Length-bucketed batches: texts of similar length share a batch, so short ones are not
padded to the length of a long one."""

from __future__ import annotations

import math
from collections.abc import Sequence

# What one model call costs beyond its tokens, in padded tokens' worth of work: measured on
# the int8 ONNX model on 2 cores, a call costs about 0.5 ms plus 0.03 ms per padded token,
# and the Python around it (padding, softmax) adds a little more.
CALL_COST_TOKENS = 32


def plan_batches(
    lengths: Sequence[int], max_batch: int, max_tokens: int, call_cost: int | None = None
) -> list[list[int]]:
    """Group indices into batches of at most ``max_batch`` rows and ``max_tokens`` padded tokens.

    Rows are sorted by length first and fill each batch in turn; a row longer than
    ``max_tokens`` gets a batch of its own. With ``call_cost`` (what one model call costs
    beyond its tokens, in padded tokens), the sorted rows are instead cut where padded
    tokens plus ``call_cost`` per batch are fewest: 32 comments of 10 to 60 tokens become a
    few batches of similar lengths rather than one padded to 60 (see ``_least_work``).

    >>> plan_batches([5, 50, 6, 7], max_batch=8, max_tokens=64)
    [[0, 2, 3], [1]]
    >>> plan_batches([12, 60, 11, 58], max_batch=8, max_tokens=4096)
    [[2, 0, 3, 1]]
    >>> plan_batches([12, 60, 11, 58], max_batch=8, max_tokens=4096, call_cost=CALL_COST_TOKENS)
    [[2, 0], [3, 1]]
    """
    if max_batch < 1 or max_tokens < 1:
        raise ValueError("max_batch and max_tokens must be positive")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if call_cost is not None:
        return _least_work(order, [lengths[i] for i in order], max_batch, max_tokens, call_cost)
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


def _least_work(
    order: list[int], lengths: list[int], max_batch: int, max_tokens: int, call_cost: int
) -> list[list[int]]:
    """Cut rows sorted by length (``lengths[k]`` is row ``order[k]``'s) into consecutive
    batches of least total ``call_cost + rows * longest``: a dynamic programme over at most
    ``max_batch`` rows back (0.05 ms for 32 rows, 2 ms for 256)."""
    # cost[j]: the least cost of the j shortest rows; start[j]: where their last batch begins.
    cost = [0.0] + [math.inf] * len(order)
    start = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        longest = lengths[j - 1]  # sorted ascending: a batch's last row is its longest
        for i in range(j - 1, max(0, j - max_batch) - 1, -1):
            rows = j - i
            if rows > 1 and rows * longest > max_tokens:
                break
            candidate = cost[i] + call_cost + rows * longest
            if candidate < cost[j]:
                cost[j], start[j] = candidate, i
    batches: list[list[int]] = []
    j = len(order)
    while j > 0:
        batches.append(order[start[j] : j])
        j = start[j]
    return batches[::-1]
