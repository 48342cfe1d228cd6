"""Length-bucketed batches: texts of similar length share a batch, so short ones are not
padded to the length of a long one."""

from __future__ import annotations

import math
from collections.abc import Sequence

# What one model call costs beyond its tokens, in padded tokens' worth of work: measured on
# the int8 ONNX model on 2 cores, a call costs about 0.5 ms plus 0.03 ms per padded token,
# and the Python around it (padding, softmax) adds a little more.
BATCH_COST_TOKENS = 32


def plan_batches(
    lengths: Sequence[int], max_batch: int, max_tokens: int, batch_cost: int = BATCH_COST_TOKENS
) -> list[list[int]]:
    """Group indices into batches of at most ``max_batch`` rows and ``max_tokens`` padded tokens.

    Rows are sorted by length and cut into runs so that the padded tokens plus
    ``batch_cost`` per batch are fewest: 32 comments of 10 to 60 tokens become a few
    batches of similar lengths rather than one padded to 60. A row longer than
    ``max_tokens`` gets a batch of its own.

    >>> plan_batches([5, 50, 6, 7], max_batch=8, max_tokens=64)
    [[0, 2, 3], [1]]
    """
    if max_batch < 1 or max_tokens < 1:
        raise ValueError("max_batch and max_tokens must be positive")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sorted_lengths = [lengths[i] for i in order]
    # cost[j]: the least cost of the j shortest rows; start[j]: where their last batch begins.
    # Sorted ascending, so a batch's last row is its longest; O(rows * max_batch).
    cost = [0.0] + [math.inf] * len(order)
    start = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        longest = sorted_lengths[j - 1]
        for i in range(j - 1, max(0, j - max_batch) - 1, -1):
            rows = j - i
            if rows > 1 and rows * longest > max_tokens:
                break
            candidate = cost[i] + batch_cost + rows * longest
            if candidate < cost[j]:
                cost[j], start[j] = candidate, i
    batches: list[list[int]] = []
    j = len(order)
    while j > 0:
        batches.append(order[start[j] : j])
        j = start[j]
    return batches[::-1]
