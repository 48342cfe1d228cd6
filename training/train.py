"""Fine-tune all-MiniLM-L6-v2 with LoRA into a poor/good/outstanding classifier.

Reads top to bottom: config (every default in one place) -> data -> network -> training
loop with dev evaluation, keeping the best checkpoint -> calibration on dev (temperature
and label offsets) -> artifact (adapters, metadata, model card).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from model.artifact import (
    ADAPTER_FILE,
    ArtifactMeta,
    LoraConfig,
    sha256_file,
    write_meta,
)
from model.build import TOKENIZER_FILE, base_model_dir, base_model_info
from model.labels import ID2LABEL, LABELS
from model.network import FeedbackNet
from model.tokenizer import TextEncoder
from training.calibration import expected_calibration_error, fit_scaling
from training.card import write_card
from training.data import (
    DataError,
    Example,
    hash_examples,
    label_counts,
    load_corpus,
    load_labelled,
    stratified_split,
)
from training.metrics import classification_metrics
from training.nhs import comment_hash, held_out_hashes, load_nhs, load_nhs_hand

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every knob of a training run. The defaults train the shipped model."""

    output: Path
    # Data: the built-in corpus unless the user gives their own labelled files.
    train_files: list[Path] = field(default_factory=list)
    dev_file: Path | None = None
    text_column: str = "text"
    label_column: str = "label"
    data_format: str | None = None
    dev_fraction: float = 0.15  # held out of a user's file when no dev file is given
    nhs_dir: Path | None = None  # weakly labelled NHS comments, down-weighted (training/nhs.py)
    nhs_weight: float = 1.0  # multiplies the per-score weights in training/nhs.py
    nhs_max: int = 3000  # at most this many NHS comments, drawn with the seed
    nhs_hand_weight: float = 2.0  # hand-labelled NHS comments (best of 1, 2, 3 on real dev)
    # Model
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    head_dropout: float = 0.1
    train_max_length: int = 128  # tokens per comment while training (head+tail cut)
    max_length: int = 256  # tokens per comment at inference
    # Optimisation
    epochs: float = 4.0
    batch_size: int = 32
    lr: float = 5e-4  # LoRA matrices
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_steps: int | None = None  # stop early (smoke tests)
    evals_per_epoch: int = 2
    balance_classes: bool = True  # equal total weight per label
    seed: int = 13
    threads: int | None = None

    def describe(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return {k: plain(v) for k, v in asdict(self).items() if k != "output"}


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    weights: torch.Tensor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(config: TrainConfig) -> tuple[list[Example], list[Example], dict[str, Any]]:
    """Training and dev examples, and a record of where they came from (hashed)."""
    sources: dict[str, Any] = {}
    if config.train_files:
        train: list[Example] = []
        for path in config.train_files:
            train += load_labelled(
                path, config.text_column, config.label_column, config.data_format
            )
        if config.dev_file:
            dev = load_labelled(
                config.dev_file, config.text_column, config.label_column, config.data_format
            )
        else:
            train, dev = stratified_split(train, config.dev_fraction, config.seed)
        sources["train"] = {"files": [str(p) for p in config.train_files]}
    else:
        train, dev = load_corpus("train"), load_corpus("dev")
        sources["train"] = {"files": ["training/data/train.jsonl"]}
    sources["train"].update(
        {"rows": len(train), "labels": label_counts(train), "sha256": hash_examples(train)}
    )
    sources["dev"] = {"rows": len(dev), "labels": label_counts(dev), "sha256": hash_examples(dev)}
    if config.nhs_dir:
        weak, report = load_nhs(config.nhs_dir, config.nhs_weight)
        random.Random(config.seed).shuffle(weak)
        weak = weak[: config.nhs_max]
        # Drawn before the hand-labelled comments leave, so that labelling more of them
        # never reshuffles the rest of the sample.
        hand, hand_dev = load_nhs_hand(config.nhs_dir)
        hand_labelled = {comment_hash(e.text) for e in hand + hand_dev} | held_out_hashes()
        weak = [e for e in weak if comment_hash(e.text) not in hand_labelled]
        sources["nhs"] = {
            "folder": str(config.nhs_dir),
            "rows": len(weak),
            "labels": label_counts(weak),
            "sha256": hash_examples(weak),
            "mapping": report.summary(),
        }
        if hand or hand_dev:
            hand = [replace(e, weight=config.nhs_hand_weight) for e in hand]
            sources["nhs_hand"] = {
                "files": ["training/data/nhs-train.jsonl", "training/data/nhs-dev.jsonl"],
                "rows": len(hand),
                "labels": label_counts(hand),
                "dev_rows": len(hand_dev),
                "dev_labels": label_counts(hand_dev),
                "sha256": hash_examples(hand + hand_dev),
            }
        train = train + weak + hand
        dev = dev + hand_dev
        sources["dev"] = {
            "rows": len(dev),
            "labels": label_counts(dev),
            "sha256": hash_examples(dev),
            "parts": {"written": sources["dev"]["rows"], "nhs_hand": len(hand_dev)},
        }
    return train, dev, sources


def training_data_of(meta: ArtifactMeta, nhs_dir: Path | None = None) -> list[Example]:
    """A model's own training examples, rebuilt from its recorded config.

    The rebuilt data must hash as the artifact recorded, so that baselines compared with
    the model are trained on exactly what the model saw. ``nhs_dir`` overrides the recorded
    NHS folder (a relative path that no longer resolves, another machine); it is used only
    when the model was trained with NHS comments.
    """
    known = {f.name for f in fields(TrainConfig)} - {"output"}
    recorded = {k: v for k, v in meta.training.items() if k in known}
    config = TrainConfig(output=Path("."), **recorded)
    config.train_files = [Path(p) for p in config.train_files]
    config.dev_file = Path(config.dev_file) if config.dev_file else None
    if config.nhs_dir:
        config.nhs_dir = nhs_dir or Path(config.nhs_dir)
    train_set, _, sources = load_data(config)
    for part in ("train", "nhs", "nhs_hand"):
        then = meta.data.get(part, {}).get("sha256", "absent")
        now = sources.get(part, {}).get("sha256", "absent")
        if then != now:
            raise DataError(
                f"the {part} data of model {meta.version} has changed since it was trained "
                f"(recorded sha256 {then[:12]}..., now {now[:12]}...); "
                "pass --baseline-train FILE to fit the baselines on a file of your choice"
            )
    return train_set


def class_factors(examples: list[Example]) -> list[float]:
    """Multipliers that give every label the same total weight."""
    totals = [sum(e.weight for e in examples if e.label == k) for k in range(len(LABELS))]
    mean = sum(totals) / len(totals)
    return [mean / t if t else 0.0 for t in totals]


def make_batches(
    encoder: TextEncoder,
    examples: list[Example],
    batch_size: int,
    rng: random.Random,
    factors: list[float],
) -> list[Batch]:
    """Shuffled batches of similar-length examples (sorted within pools of 50 batches)."""
    rows = encoder.token_ids([e.text for e in examples])
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * 50
    groups: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(rows[i][0]))
        groups += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(groups)
    batches = []
    for group in groups:
        encoded = encoder.pad([rows[i] for i in group])
        batches.append(
            Batch(
                torch.from_numpy(encoded.input_ids),
                torch.from_numpy(encoded.attention_mask),
                torch.tensor([examples[i].label for i in group]),
                torch.tensor([examples[i].weight * factors[examples[i].label] for i in group]),
            )
        )
    return batches


@torch.inference_mode()
def predict_logits(
    net: FeedbackNet, encoder: TextEncoder, texts: list[str], batch_size: int = 64
) -> np.ndarray:
    net.eval()
    rows = encoder.token_ids(texts)
    order = sorted(range(len(texts)), key=lambda i: len(rows[i][0]))
    out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        encoded = encoder.pad([rows[i] for i in idx])
        logits = net(torch.from_numpy(encoded.input_ids), torch.from_numpy(encoded.attention_mask))
        out[idx] = logits.float().numpy()
    return out


def train(config: TrainConfig) -> ArtifactMeta:
    """Run one training; write the artifact to ``config.output`` and return its metadata."""
    started = time.monotonic()
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    train_set, dev_set, sources = load_data(config)
    log.info(
        "training on %d comments %s, dev %d", len(train_set), label_counts(train_set), len(dev_set)
    )

    base = base_model_dir()
    encoder = TextEncoder.from_file(base / TOKENIZER_FILE, config.train_max_length)
    net = FeedbackNet.from_base(base, dropout=config.head_dropout)
    lora = LoraConfig(rank=config.lora_rank, alpha=config.lora_alpha)
    net.add_lora(lora, dropout=config.lora_dropout)

    rng = random.Random(config.seed)
    factors = class_factors(train_set) if config.balance_classes else [1.0] * len(LABELS)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total_steps = max(1, round(steps_per_epoch * config.epochs))
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    eval_every = max(1, steps_per_epoch // max(1, config.evals_per_epoch))

    lora_params = [p for n, p in net.named_parameters() if p.requires_grad and "lora_" in n]
    head_params = list(net.head.parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": lora_params, "lr": config.lr},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    warmup = max(1, int(total_steps * config.warmup_ratio))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(
            (step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        ),
    )

    dev_texts = [e.text for e in dev_set]
    dev_labels = np.array([e.label for e in dev_set])
    best: dict[str, Any] = {"f1": -1.0, "step": 0, "state": None}
    history: list[dict[str, float]] = []
    step, loss_ema = 0, None
    bar = tqdm(total=total_steps, desc="training", unit="step", dynamic_ncols=True)
    while step < total_steps:
        for batch in make_batches(encoder, train_set, config.batch_size, rng, factors):
            net.train()
            logits = net(batch.input_ids, batch.attention_mask)
            losses = torch.nn.functional.cross_entropy(logits, batch.labels, reduction="none")
            loss = (losses * batch.weights).sum() / batch.weights.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora_params + head_params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_ema:.3f}", dev_f1=f"{max(best['f1'], 0):.3f}")
            if step % eval_every == 0 or step == total_steps:
                f1 = classification_metrics(
                    predict_logits(net, encoder, dev_texts).argmax(1), dev_labels
                )["macro_f1"]
                history.append(
                    {
                        "step": step,
                        "epoch": round(step / steps_per_epoch, 2),
                        "loss": loss_ema,
                        "dev_macro_f1": f1,
                    }
                )
                bar.write(
                    f"step {step}/{total_steps}  epoch {step / steps_per_epoch:.2f}  loss {loss_ema:.4f}  dev macro-F1 {f1:.4f}"
                )
                if f1 > best["f1"]:
                    best = {
                        "f1": f1,
                        "step": step,
                        "state": {k: v.clone() for k, v in net.adapter_state().items()},
                    }
            if step >= total_steps:
                break
    bar.close()

    # The best checkpoint by dev macro-F1, then calibration on the same dev split.
    net_state = best["state"]
    config.output.mkdir(parents=True, exist_ok=True)
    adapter_path = config.output / ADAPTER_FILE
    from safetensors.torch import save_file

    save_file(net_state, str(adapter_path))
    net.load_adapter(adapter_path)
    dev_logits = predict_logits(net, encoder, dev_texts)
    temperature, bias = fit_scaling(dev_logits, dev_labels)
    from model.classifier import softmax

    # What the calibrated model says: the offsets can change a few labels, not only scores.
    dev_probs = softmax(dev_logits, temperature, bias)
    dev_metrics = classification_metrics(dev_probs.argmax(1), dev_labels)
    dev_metrics["macro_f1_uncalibrated"] = classification_metrics(dev_logits.argmax(1), dev_labels)[
        "macro_f1"
    ]
    dev_metrics["ece_uncalibrated"] = expected_calibration_error(softmax(dev_logits), dev_labels)
    dev_metrics["ece"] = expected_calibration_error(dev_probs, dev_labels)
    sources_in_dev = sorted({e.source for e in dev_set})
    if len(sources_in_dev) > 1:  # e.g. written comments and hand-labelled real ones
        dev_metrics["parts"] = {}
        for source in sources_in_dev:
            idx = np.array([e.source == source for e in dev_set])
            part = classification_metrics(dev_probs[idx].argmax(1), dev_labels[idx])
            dev_metrics["parts"][source] = {k: part[k] for k in ("n", "accuracy", "macro_f1")}
            log.info(
                "dev part %s: macro-F1 %.4f (%d comments)", source, part["macro_f1"], part["n"]
            )

    today = dt.datetime.now(dt.UTC)
    meta = ArtifactMeta(
        version=f"{today:%Y.%m.%d}-{sha256_file(adapter_path)[:8]}",
        id2label=dict(ID2LABEL),
        base_model=base_model_info(),
        max_length=config.max_length,
        temperature=round(temperature, 6),
        bias=[round(b, 6) for b in bias],
        lora=lora,
        training={
            **config.describe(),
            "best_step": best["step"],
            "total_steps": total_steps,
            "history": history,
            "minutes": round((time.monotonic() - started) / 60, 2),
            "torch": torch.__version__,
        },
        data=sources,
        metrics={"dev": dev_metrics},
        created_at=today.isoformat(timespec="seconds"),
    )
    write_meta(config.output, meta)
    write_card(config.output, meta)
    log.info(
        "wrote %s (dev macro-F1 %.4f, ECE %.4f)",
        config.output,
        dev_metrics["macro_f1"],
        dev_metrics["ece"],
    )
    return meta
