"""``feedback-classifier rescore``: translate the shell into a :class:`RescoreJob` and run it."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import click

from service.rescore.errors import RescoreError
from service.rescore.job import DEFAULT_CHUNK_ROWS, ENGINES, RescoreJob, run_job
from service.rescore.sources import FORMATS, STDIO, detect_format
from training.cli import MODEL_OPTION

FORMAT_CHOICE = click.Choice(FORMATS)


@click.command("rescore")
@click.argument("input_path", metavar="[INPUT]", type=str, required=False)
@click.option(
    "-o",
    "--output",
    help="Output file (CSV, JSONL or Parquet by extension), or - for stdout.",
)
@click.option(
    "--from-db",
    is_flag=True,
    help="Re-label the comments the service stored (FEEDBACK_DATABASE_URL, else the SQLite "
    "file in FEEDBACK_DATA_DIR), adding predictions under the new model version.",
)
@click.option(
    "--only-missing",
    is_flag=True,
    help="With --from-db: only comments without a prediction from this model version.",
)
@click.option(
    "--format",
    "input_format",
    type=FORMAT_CHOICE,
    help="Input format if not clear from the extension (needed for stdin).",
)
@click.option(
    "--output-format",
    type=FORMAT_CHOICE,
    help="Output format. Default: from OUTPUT's extension; for stdout, the input format.",
)
@click.option(
    "--text-column", default="text", show_default=True, help="Column holding the comment."
)
@click.option("--id-column", help="Column identifying each row, repeated in the rejects file.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV listing the rows that could not be scored. Default: OUTPUT.rejects.csv (none for stdout).",
)
@MODEL_OPTION
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run from its checkpoint in OUTPUT.partial/.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    envvar="FEEDBACK_RESCORE_ENGINE",
    help="local: this process; ray: a Ray cluster (pip install 'feedback-classifier[ray]').",
)
@click.option(
    "--ray-address",
    envvar="RAY_ADDRESS",
    help="Ray cluster to join, e.g. ray://head:10001. Default: start Ray on this machine.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Ray: scoring actors, one model each. Default: the cluster's CPUs / --threads.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Inference threads per model. Default: local all cores; ray 1.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_ROWS,
    show_default=True,
    help="Rows read, scored and checkpointed together. A resumed run keeps its own.",
)
def rescore_command(
    input_path: str | None,
    output: str | None,
    from_db: bool,
    only_missing: bool,
    input_format: str | None,
    output_format: str | None,
    text_column: str,
    id_column: str | None,
    rejects: Path | None,
    model_path: Path,
    resume: bool,
    engine: str,
    ray_address: str | None,
    workers: int | None,
    threads: int | None,
    chunk_size: int,
) -> None:
    """Re-label historical comments: every input row, in order, with its new label and scores.

    INPUT is a CSV (with a header row), JSON Lines or Parquet file, or - for stdin. Every
    input column is kept and label, score_poor, score_good, score_outstanding, truncated
    and model_version are added (input columns of those names are replaced).

    Rows that cannot be scored (text missing, null, blank or not a string; a CSV row with
    the wrong number of fields; a line that is not a JSON object) stay in the output, in
    place, with the added columns empty, and are listed in the rejects file by row number:
    data rows counted from 1, not counting a CSV header or blank lines.

    The output appears (atomically) when the run is done; until then it is built in
    OUTPUT.partial/, checkpointed after every chunk. After a crash or kill, the same
    command with --resume continues where it stopped.

    With --from-db (no INPUT, no -o), the comments stored by the service get a new
    prediction row each, under this model's version, beside their older ones. Running it
    again is safe (a comment keeps one prediction per version); --only-missing skips the
    comments this version already labelled, so an interrupted run resumes cheaply.

    \b
    Exit codes:
      0  done (rejected rows do not make a run fail)
      1  error: missing file, unknown column, unreadable input, model or checkpoint
         problem; one line on stderr starting with "Error:"
      2  usage error: bad option, format not given where it cannot be guessed,
         --resume with stdout

    \b
    Examples:
      feedback-classifier rescore history.csv -o labelled.csv --id-column ticket_id
      feedback-classifier rescore history.csv -o labelled.csv --resume
      zcat history.jsonl.gz | feedback-classifier rescore - --format jsonl -o labelled.parquet
      feedback-classifier rescore history.parquet -o - --output-format jsonl | head
      feedback-classifier rescore history.parquet -o labelled.parquet --engine ray
      FEEDBACK_DATABASE_URL=postgresql+psycopg://... feedback-classifier rescore --from-db
    """
    if from_db:
        _rescore_database(input_path, output, only_missing, engine, model_path, chunk_size, threads)
        return
    if only_missing:
        raise click.UsageError("--only-missing goes with --from-db")
    if input_path is None or output is None:
        raise click.UsageError("give INPUT and -o OUTPUT (or --from-db)")
    if resume and output == STDIO:
        raise click.UsageError(
            "output to stdout cannot be resumed; write to a file to use --resume"
        )
    try:
        input_format = detect_format(input_path, input_format, "--format")
        if output_format is None:
            output_format = (
                input_format if output == STDIO else detect_format(output, None, "--output-format")
            )
    except RescoreError as exc:
        raise click.UsageError(str(exc)) from exc
    if "parquet" in (input_format, output_format) and find_spec("pyarrow") is None:
        raise RescoreError(
            "Parquet needs pyarrow, which this install lacks: "
            "pip install 'feedback-classifier[parquet]'"
        )
    if engine == "ray" and input_path == STDIO:
        raise click.UsageError(
            "--engine ray reads files on the cluster; stdin needs --engine local"
        )
    job = RescoreJob(
        input=input_path,
        output=output,
        input_format=input_format,
        output_format=output_format,
        text_column=text_column,
        id_column=id_column,
        rejects=rejects,
        model=model_path,
        chunk_size=chunk_size,
        threads=threads,
        resume=resume,
        engine=engine,
        ray_address=ray_address,
        workers=workers,
    )
    summary = run_job(job)
    click.echo(summary.line(), err=True)


def _rescore_database(
    input_path: str | None,
    output: str | None,
    only_missing: bool,
    engine: str,
    model_path: Path,
    chunk_size: int,
    threads: int | None,
) -> None:
    from service.rescore.database import rescore_database
    from service.settings import load_settings

    if input_path is not None or output is not None:
        raise click.UsageError("--from-db reads and writes the database: drop INPUT and -o")
    if engine != "local":
        raise click.UsageError("--from-db runs on the local engine")
    summary = rescore_database(load_settings(), model_path, only_missing, chunk_size, threads)
    click.echo(summary.line(), err=True)
