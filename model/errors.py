"""Errors raised by the classifier library. They know nothing of HTTP or the shell."""


class FeedbackError(Exception):
    """Base class of every error this project raises on purpose."""


class ArtifactError(FeedbackError):
    """A model artifact is missing, incomplete or not a poor/good/outstanding classifier."""


class BuildError(FeedbackError):
    """The full model or its ONNX files could not be built from the artifact."""


class InputError(FeedbackError):
    """A text given to the classifier cannot be classified (empty, not a string)."""
