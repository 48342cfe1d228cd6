"""``feedback-classifier serve``: run the REST service with uvicorn."""

from __future__ import annotations

import logging
import re

import click

from model.artifact import read_meta
from model.backends import required_files
from model.build import ensure_built
from service.settings import load_settings

log = logging.getLogger(__name__)

# Salesforce sends its shared secret in the endpoint URL: keep it out of the access log.
SECRET_QUERY = re.compile(r"([?&]token=)[^&\s]*")


class RedactSecrets(logging.Filter):
    """Blanks ``token=...`` in uvicorn's access-log lines (the path is one of the args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="FEEDBACK_HOST",
    help="Interface to listen on (0.0.0.0 for all). Env: FEEDBACK_HOST.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="FEEDBACK_PORT",
    help="Port to listen on. Env: FEEDBACK_PORT.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Model artifact folder (default: FEEDBACK_MODEL_PATH, else the committed model).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve_command(host: str, port: int, model_path: str | None, log_level: str) -> None:
    """Serve the classify API (settings from FEEDBACK_* environment variables).

    Builds the model's ONNX files first if they are missing, then starts uvicorn; /readyz
    answers 200 once the model is loaded and warm. Ctrl-C (SIGINT) or SIGTERM stops taking
    connections and finishes the requests in flight.

    \b
    Examples:
      feedback-classifier serve
      FEEDBACK_API_KEYS=$(cat keys.txt) feedback-classifier serve --host 0.0.0.0
      curl -s localhost:8000/v1/classify -H 'content-type: application/json' \\
           -d '{"text": "thx, sorted"}'
    """
    import uvicorn

    from service.app import create_app

    overrides = {"model_path": model_path} if model_path else {}
    settings = load_settings(**overrides)
    meta = read_meta(settings.model_path)
    ensure_built(settings.model_path, None, required_files(settings.backend))
    log.info("serving %s %s on http://%s:%d", meta.model_id, meta.version, host, port)
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=30,
    )
