"""MODEL_CARD.md, rendered from an artifact's metadata so the two never disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.artifact import CARD_FILE, ArtifactMeta
from model.labels import LABELS


def _metrics_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| model | accuracy | macro-F1 | "
        + " | ".join(f"F1 {label}" for label in LABELS)
        + " | ECE |",
        "|---|---|---|" + "---|" * len(LABELS) + "---|",
    ]
    for name, m in rows.items():
        per = " | ".join(f"{m['per_label'][label]['f1']:.3f}" for label in LABELS)
        ece = f"{m['ece']:.3f}" if "ece" in m else "n/a"
        lines.append(f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {per} | {ece} |")
    return "\n".join(lines)


def render_card(meta: ArtifactMeta) -> str:
    training = meta.training
    data = meta.data
    sections = [
        f"# Model card: {meta.model_id} {meta.version}",
        "Labels a customer's comment as **poor** (service worse than expected), **good** "
        "(expectations met) or **outstanding** (expectations exceeded), with calibrated "
        "probabilities for all three. Definitions: `LABELING.md` rules as summarised in the README.",
        "## Model",
        f"- Base encoder: {meta.base_model.get('name')} (package "
        f"`{meta.base_model.get('package')}` {meta.base_model.get('package_version')}, "
        f"weights sha256 `{meta.base_model.get('sha256', '')[:16]}…`).",
        f"- Fine-tuning: LoRA rank {meta.lora.rank}, alpha {meta.lora.alpha:g} on "
        f"{', '.join(meta.lora.targets)}; mean pooling; linear head over {', '.join(LABELS)}.",
        f"- Window: {meta.max_length} tokens at inference (longer comments keep their head "
        "and tail and are flagged `truncated`).",
        f"- Calibration: temperature {meta.temperature:.3f} and label offsets "
        f"{' / '.join(f'{b:+.3f}' for b in meta.bias)} ({', '.join(LABELS)}), fitted on the "
        "dev split.",
        f"- Training: {training.get('total_steps', '?')} steps, best at step "
        f"{training.get('best_step', '?')}, seed {training.get('seed', '?')}, "
        f"{training.get('minutes', '?')} minutes on {training.get('threads') or 'all'} CPU threads.",
        "## Data",
    ]
    for name, info in data.items():
        labels = ", ".join(f"{k} {v}" for k, v in info.get("labels", {}).items())
        where = info.get("files") or info.get("folder") or ""
        if isinstance(where, list):
            where = ", ".join(f"`{w}`" for w in where)
        dev_rows = f" and {info['dev_rows']} in the dev split" if "dev_rows" in info else ""
        sections.append(
            f"- **{name}**: {info.get('rows')} comments ({labels}){dev_rows}; sha256 "
            f"`{str(info.get('sha256', ''))[:16]}…` {where}"
        )
    sections.append("## Metrics")
    dev = meta.metrics.get("dev")
    if dev:
        sections += [
            "Dev split (used for checkpoint choice and calibration):",
            _metrics_table({"this model": dev}),
        ]
        parts = dev.get("parts", {})
        if parts:
            sections.append(
                "Of which: "
                + "; ".join(
                    f"`{source}` {p['n']} comments, macro-F1 {p['macro_f1']:.3f}"
                    for source, p in parts.items()
                )
                + "."
            )
    for name, evaluation in meta.metrics.get("evaluations", {}).items():
        rows = {"this model": evaluation["model"], **evaluation.get("baselines", {})}
        sections += [
            f"Evaluation on `{name}` ({evaluation['model']['n']} comments):",
            _metrics_table(rows),
        ]
    sections += [
        "## Intended use and limits",
        "- Customer-service feedback in English: surveys, chat ratings, emails, app reviews, tickets.",
        "- Comments that are not about service (a question, an address, spam) still get one of "
        "the three labels, with low confidence: read the scores.",
        "- What counts as outstanding differs between organisations: fine-tune on your own "
        "labelled comments (`feedback-classifier train --data FILE`).",
    ]
    return "\n\n".join(sections) + "\n"


def write_card(folder: str | Path, meta: ArtifactMeta) -> None:
    Path(folder, CARD_FILE).write_text(render_card(meta), encoding="utf-8")
