"""``feedback-classifier``: one command, with subcommands for each job.

Every subcommand translates between the shell and plain functions; the work lives in
``model/``, ``training/`` and the service's modules. Errors the project raises on purpose
become one clean line on stderr and exit code 1 (usage errors: 2).
"""

from __future__ import annotations

import logging

import click

from model.errors import FeedbackError
from service.rescore.cli import rescore_command
from service.serve import serve_command
from training.cli import evaluate_command, export_command, train_command


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FeedbackError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feedback-classifier")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Label customer comments as poor, good or outstanding service.

    \b
    Examples:
      feedback-classifier train --data my_labels.csv --output models/acme
      feedback-classifier evaluate --data training/data/test.jsonl
      feedback-classifier export --model models/acme
      feedback-classifier serve --port 8000
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # transformers warns about things that are expected here (an unused pooler).
    logging.getLogger("transformers").setLevel(logging.ERROR)
    # Alembic lists its autogenerate plugins at INFO on every start; its migrations stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


main.add_command(train_command)
main.add_command(evaluate_command)
main.add_command(export_command)
main.add_command(serve_command)
main.add_command(rescore_command)
