"""Subcommands ``train``, ``evaluate`` and ``export``. Heavy imports happen inside each command."""

from __future__ import annotations

import json
from pathlib import Path

import click

from model.artifact import DEFAULT_ARTIFACT

FORMAT_CHOICE = click.Choice(["csv", "jsonl", "parquet"])
CORPUS_DIR = Path(__file__).parent / "data"
# Where the shared data sits beside a checkout of this repository.
DEFAULT_NHS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs-fft"
MODEL_OPTION = click.option(
    "--model",
    "model_path",
    default=str(DEFAULT_ARTIFACT),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FEEDBACK_MODEL_PATH",
    help="Model artifact folder.",
)


@click.command("train")
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your labelled file (CSV, JSONL or Parquet); repeat for several. "
    "Default: the built-in corpus.",
)
@click.option(
    "--dev",
    "dev",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled file for model selection and calibration. "
    "Default: 15% of --data, stratified (or the corpus dev split).",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option(
    "--format",
    "data_format",
    type=FORMAT_CHOICE,
    help="Input format if not clear from the extension.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the model artifact to.",
)
@click.option(
    "--nhs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FEEDBACK_NHS_DIR",
    help="Add NHS comments from this folder (e.g. ../shared/data/nhs-fft): a weakly labelled "
    "sample, the hand-labelled training comments, and hand-labelled real comments in dev.",
)
@click.option(
    "--nhs-max", default=3000, show_default=True, help="At most this many weakly labelled ones."
)
@click.option(
    "--nhs-hand-weight",
    default=2.0,
    show_default=True,
    help="Weight of a hand-labelled NHS comment (a written one weighs 1).",
)
@click.option("--epochs", default=4.0, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=5e-4, show_default=True, help="Learning rate of the LoRA adapters.")
@click.option("--seed", default=13, show_default=True)
@click.option("--max-steps", type=int, help="Stop after this many steps (quick checks).")
@click.option("--threads", type=int, help="CPU threads for torch. Default: all.")
@click.option(
    "--build/--no-build",
    default=True,
    show_default=True,
    help="Build the full model and int8 ONNX file after training.",
)
def train_command(
    data: tuple[Path, ...],
    dev: Path | None,
    text_column: str,
    label_column: str,
    data_format: str | None,
    output: Path,
    nhs_dir: Path | None,
    nhs_max: int,
    nhs_hand_weight: float,
    epochs: float,
    batch_size: int,
    lr: float,
    seed: int,
    max_steps: int | None,
    threads: int | None,
    build: bool,
) -> None:
    """Fine-tune a classifier on labelled comments.

    Labels must be poor, good or outstanding (any case). Progress shows steps, loss and
    dev macro-F1; the best checkpoint by dev macro-F1 is kept and calibrated on dev.

    \b
    Examples:
      feedback-classifier train --data ours.csv --text-column comment -o models/ours
      feedback-classifier train -o models/default --nhs-dir ../shared/data/nhs-fft
    """
    from model.build import build as build_model
    from training.train import TrainConfig, train

    config = TrainConfig(
        output=output,
        train_files=list(data),
        dev_file=dev,
        text_column=text_column,
        label_column=label_column,
        data_format=data_format,
        nhs_dir=nhs_dir,
        nhs_max=nhs_max,
        nhs_hand_weight=nhs_hand_weight,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        max_steps=max_steps,
        threads=threads,
    )
    meta = train(config)
    dev_metrics = meta.metrics["dev"]
    click.echo(f"model {meta.version} written to {output}")
    click.echo(
        f"dev macro-F1 {dev_metrics['macro_f1']:.4f}, ECE {dev_metrics['ece']:.4f} "
        f"(temperature {meta.temperature:.3f}), {meta.training['minutes']} min"
    )
    if build:
        build_model(output, output / "build")
        click.echo(f"built {output / 'build'}")


@click.command("evaluate")
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled file to evaluate on, e.g. training/data/test.jsonl.",
)
@MODEL_OPTION
@click.option(
    "--backend",
    type=click.Choice(["onnx", "onnx-fp32", "torch"]),
    default="onnx",
    show_default=True,
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--format", "data_format", type=FORMAT_CHOICE)
@click.option(
    "--baseline-train",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled file the baselines (VADER thresholds, TF-IDF + LR) are fit on. "
    "Default: the model's own training data, rebuilt from its artifact.",
)
@click.option(
    "--nhs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FEEDBACK_NHS_DIR",
    help="The NHS FFT files, for the hand-labelled real comments (training/data/nhs-*.jsonl) "
    "and for rebuilding a training sample drawn from them. Default: the folder the model "
    f"was trained with, else {DEFAULT_NHS_DIR}.",
)
@click.option("--baselines/--no-baselines", default=True, show_default=True)
@click.option(
    "--output-dir",
    default="reports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the confusion-matrix and reliability PNGs go.",
)
@click.option(
    "--record", is_flag=True, help="Save the results in the artifact's metadata and model card."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate_command(
    data: Path,
    model_path: Path,
    backend: str,
    text_column: str,
    label_column: str,
    data_format: str | None,
    baseline_train: Path | None,
    nhs_dir: Path | None,
    baselines: bool,
    output_dir: Path,
    record: bool,
    as_json: bool,
) -> None:
    """Accuracy, macro-F1, per-label P/R/F1, confusion matrix and ECE, beside baselines.

    The baselines are fit on the model's own training data unless --baseline-train names
    a file. The hand-labelled real comments (training/data/nhs-test.jsonl, nhs-dev.jsonl)
    hold no text: it is read from the NHS files.

    \b
    Examples:
      feedback-classifier evaluate --data training/data/test.jsonl --record
      feedback-classifier evaluate --data training/data/nhs-test.jsonl --nhs-dir ../shared/data/nhs-fft
    """
    from model.artifact import read_meta, write_meta
    from model.classifier import Classifier
    from training.card import write_card
    from training.data import load_labelled
    from training.evaluate import evaluate
    from training.nhs import is_nhs_reference, load_nhs_test

    meta = read_meta(model_path)
    if nhs_dir is None:
        recorded = meta.data.get("nhs", {}).get("folder")
        candidates = [Path(recorded)] if recorded else []
        nhs_dir = next((p for p in [*candidates, DEFAULT_NHS_DIR] if p.is_dir()), None)
    if is_nhs_reference(data):
        examples = load_nhs_test(nhs_dir or DEFAULT_NHS_DIR, data)
    else:
        examples = load_labelled(data, text_column, label_column, data_format, min_per_class=1)
    train_examples = None
    if baselines and baseline_train:
        train_examples = load_labelled(baseline_train, min_per_class=1)
    elif baselines:
        from training.train import training_data_of

        train_examples = training_data_of(meta, nhs_dir)
    classifier = Classifier.load(model_path, backend=backend)
    report = evaluate(classifier, examples, data.name, train_examples, output_dir)
    click.echo(json.dumps(report.as_record(), indent=2) if as_json else report.render())
    if record:
        meta.metrics.setdefault("evaluations", {})[data.name] = report.as_record()
        write_meta(model_path, meta)
        write_card(model_path, meta)
        click.echo(f"recorded in {model_path}/artifact.json and MODEL_CARD.md")


@click.command("export")
@MODEL_OPTION
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build folder. Default: BUILD beside the artifact (build/).",
)
def export_command(model_path: Path, output: Path | None) -> None:
    """Rebuild the full model, fp32 ONNX and int8 ONNX files from an artifact.

    The result is deterministic: the same artifact gives the same bytes, listed with their
    sha256. Loading a model builds these once by itself when they are missing.
    """
    from model.build import build

    target = output or model_path / "build"
    manifest = build(model_path, target)
    click.echo(f"built model {manifest['version']} in {target}")
    for name, digest in sorted(manifest["files"].items()):
        size = (target / name).stat().st_size / 1e6
        click.echo(f"  {name:<20} {size:8.1f} MB  sha256 {digest[:16]}")
