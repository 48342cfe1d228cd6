"""``python -m service`` is ``feedback-classifier``."""

from service.cli import main

main()
