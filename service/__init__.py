"""The feedback classifier's REST service and command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("feedback-classifier")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
