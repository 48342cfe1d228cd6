"""The one error type of re-scoring: the CLI turns it into ``Error: ...`` and exit code 1."""

from model.errors import FeedbackError


class RescoreError(FeedbackError):
    """An input, output or checkpoint that a re-scoring run cannot use, with what to do about it."""
