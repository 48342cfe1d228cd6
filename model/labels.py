"""The three labels, in the order the model's outputs use them."""

from collections.abc import Mapping

LABELS: tuple[str, ...] = ("poor", "good", "outstanding")
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))


def check_id2label(id2label: Mapping[int | str, str]) -> dict[int, str]:
    """Return ``id2label`` with int keys, or raise ``ValueError`` unless it is poor/good/outstanding.

    >>> check_id2label({"0": "poor", "1": "good", "2": "outstanding"})
    {0: 'poor', 1: 'good', 2: 'outstanding'}
    """
    parsed = {int(k): v for k, v in id2label.items()}
    if parsed != ID2LABEL:
        raise ValueError(f"expected labels {ID2LABEL}, found {parsed}")
    return parsed
