"""The feedback classifier as a library: labels, artifacts, loading and inference backends.

>>> from model import Classifier
>>> clf = Classifier.load("model/default")                     # doctest: +SKIP
>>> clf.predict(["I can't believe you had that waiting on me!"])[0].label  # doctest: +SKIP
'outstanding'
"""

from model.classifier import Classifier, Prediction
from model.errors import ArtifactError, BuildError, FeedbackError, InputError
from model.labels import LABELS

__all__ = [
    "LABELS",
    "ArtifactError",
    "BuildError",
    "Classifier",
    "FeedbackError",
    "InputError",
    "Prediction",
]
