"""Throughput of ``feedback-classifier rescore`` against a naive ``transformers`` pipeline loop.

Builds a CSV of realistic comments (the corpus' train and test texts, by default only those
of 10 to 60 tokens, repeated to ``--rows``), runs ``rescore`` on it as a subprocess (start-up,
model load, reading and writing included) and, in the same run, the naive baseline: a loop
calling ``transformers.pipeline("text-classification")`` (default batching: one text at a
time) on the same model in full precision, over a sample of ``--naive-rows`` of the texts.
Prints both throughputs, their ratio, rescore's peak memory and how often the labels agree.

    .venv/bin/python benchmarks/rescore_bench.py                   # 20,000 rows, naive on 2,000
    .venv/bin/python benchmarks/rescore_bench.py --memory-rows 200000   # peak RSS, 20k vs 200k

Needs the dev install (torch and transformers for the baseline).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.artifact import DEFAULT_ARTIFACT  # noqa: E402
from model.build import ensure_built  # noqa: E402
from model.tokenizer import TextEncoder  # noqa: E402

CORPUS = [ROOT / "training" / "data" / "train.jsonl", ROOT / "training" / "data" / "test.jsonl"]


def corpus_texts(encoder: TextEncoder, low: int, high: int) -> list[str]:
    """Corpus comments whose length, in tokens without [CLS]/[SEP], is within [low, high]."""
    texts = [json.loads(line)["text"] for path in CORPUS for line in path.open(encoding="utf-8")]
    lengths = [len(ids) - 2 for ids, _ in encoder.token_ids(texts)]
    return [t for t, n in zip(texts, lengths, strict=True) if low <= n <= high]


def write_input(path: Path, texts: list[str], rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([f"c{i}", texts[i % len(texts)]])


def run_rescore(source: Path, output: Path, model: Path, extra: list[str]) -> dict[str, Any]:
    """Run the CLI in a child process; wall time and the child's own peak RSS."""
    cmd = [sys.executable, "-c", "from service.cli import main; main()", "rescore"]
    cmd += [str(source), "-o", str(output), "--model", str(model), *extra]
    log = output.with_name(output.name + ".log")
    with log.open("w") as stderr:
        began = time.perf_counter()
        process = subprocess.Popen(cmd, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    messages = log.read_text()
    if process.returncode != 0:
        raise SystemExit(f"rescore failed ({process.returncode}):\n{messages}")
    summary = messages.strip().splitlines()[-1]
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "summary": summary,
    }


def naive_pipeline(build_dir: Path) -> Any:
    """``transformers.pipeline`` on the same merged network, in full precision.

    Our network mean-pools the token states (all-MiniLM-L6-v2's pooling) where
    ``BertForSequenceClassification`` reads the [CLS] pooler, so the stock class would give
    other labels: this subclass swaps in mean pooling and takes our weights unchanged.
    """
    from safetensors.torch import load_file
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        PreTrainedTokenizerFast,
        pipeline,
    )
    from transformers.modeling_outputs import SequenceClassifierOutput
    from transformers.utils import logging as hf_logging

    from model.labels import ID2LABEL, LABEL2ID

    class MeanPooledBert(BertForSequenceClassification):
        def forward(self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> Any:
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return SequenceClassifierOutput(logits=self.classifier(pooled))

    config = BertConfig.from_json_file(str(build_dir / "config.json"))
    config.num_labels = len(ID2LABEL)
    config.id2label, config.label2id = dict(ID2LABEL), dict(LABEL2ID)
    network = MeanPooledBert(config)
    weights = {
        ("bert." + k.removeprefix("encoder."))
        if k.startswith("encoder.")
        else ("classifier." + k.removeprefix("head.")): v
        for k, v in load_file(str(build_dir / "model.safetensors")).items()
    }
    missing, unexpected = network.load_state_dict(weights, strict=False)
    if unexpected or any(".pooler." not in name for name in missing):
        raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    network.eval()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(build_dir / "tokenizer.json"),
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=True,
    )
    # tokenizer.json pads to 128; transformers turns that off per call unless asked, so the
    # baseline is not handicapped by padding: check it.
    if len(tokenizer("thx, sorted")["input_ids"]) > 10:
        raise SystemExit("the baseline tokenizer pads short comments")
    # It logs that our subclass "is not supported for text-classification": it is a
    # subclass of a supported one.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity(hf_logging.CRITICAL)
    try:
        return pipeline("text-classification", model=network, tokenizer=tokenizer)
    finally:
        hf_logging.set_verbosity(verbosity)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--naive-rows", type=int, default=2_000)
    parser.add_argument("--min-tokens", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--input", type=Path, help="Use this CSV (id,text) instead of the corpus.")
    parser.add_argument(
        "--memory-rows", type=int, help="Also run on this many rows to compare peak RSS."
    )
    parser.add_argument(
        "--rescore-args", default="", help="Extra rescore options, e.g. '--chunk-size 2048'."
    )
    args = parser.parse_args()

    build = ensure_built(args.model)
    encoder = TextEncoder.from_file(build / "tokenizer.json", 256)
    with tempfile.TemporaryDirectory(prefix="rescore-bench-") as tmp:
        work = Path(tmp)
        if args.input:
            source = args.input
            with source.open(newline="", encoding="utf-8") as handle:
                texts = [row["text"] for row in csv.DictReader(handle)]
            rows = len(texts)
        else:
            texts = corpus_texts(encoder, args.min_tokens, args.max_tokens)
            source, rows = work / "comments.csv", args.rows
            write_input(source, texts, rows)
            texts = [texts[i % len(texts)] for i in range(rows)]
        tokens = [len(ids) - 2 for ids, _ in encoder.token_ids(texts[: min(rows, 5000)])]
        print(
            f"input: {rows:,} comments, tokens per comment mean {statistics.mean(tokens):.1f}, "
            f"median {statistics.median(tokens):.0f}, max {max(tokens)} "
            f"({len(set(texts)):,} distinct texts{'' if args.input else ' from the corpus, repeated'})"
        )
        print(
            f"machine: {os.cpu_count()} CPUs visible, load average before {os.getloadavg()[0]:.2f}"
        )

        ours = run_rescore(source, work / "out.csv", args.model, args.rescore_args.split())
        rate = rows / ours["seconds"]
        print(
            f"rescore:  {rows:,} rows in {ours['seconds']:.1f} s = {rate:,.0f} comments/s "
            f"(wall, process start and model load included); peak RSS {ours['peak_rss_mb']:.0f} MB"
        )
        print(
            f"          {ours['cpu_seconds']:.1f} CPU-s = {rows / ours['cpu_seconds']:,.0f} "
            "comments per CPU-second"
        )
        print(f"          {ours['summary']}")

        if args.memory_rows:
            big = work / "big.csv"
            write_input(big, texts, args.memory_rows)
            more = run_rescore(big, work / "big.out.csv", args.model, args.rescore_args.split())
            print(
                f"memory:   peak RSS {ours['peak_rss_mb']:.0f} MB for {rows:,} rows, "
                f"{more['peak_rss_mb']:.0f} MB for {args.memory_rows:,} rows "
                f"({args.memory_rows / more['seconds']:,.0f} comments/s)"
            )

        # The baseline loads torch: after the rescore runs, so that their children (forked
        # from this process) do not count this process's memory as theirs.
        sample = texts[: args.naive_rows]
        pipe = naive_pipeline(build)
        pipe(sample[0])  # warm-up, as ours loads its model before timing matters
        began, cpu_began = time.perf_counter(), time.process_time()
        naive_labels = [pipe(text, truncation=True, max_length=256)[0]["label"] for text in sample]
        naive_seconds = time.perf_counter() - began
        naive_cpu = time.process_time() - cpu_began
        naive_rate = len(sample) / naive_seconds
        print(
            f"naive:    {len(sample):,} rows in {naive_seconds:.1f} s = {naive_rate:,.0f} comments/s "
            "(transformers pipeline, one call per comment, default batching, fp32 torch; "
            "model already loaded)"
        )
        print(
            f"          {naive_cpu:.1f} CPU-s = {len(sample) / naive_cpu:,.0f} comments per CPU-second"
        )
        cpu_ratio = (rows / ours["cpu_seconds"]) / (len(sample) / naive_cpu)
        print(f"ratio:    {rate / naive_rate:.1f}x wall-clock, {cpu_ratio:.1f}x per CPU-second")
        with (work / "out.csv").open(newline="", encoding="utf-8") as handle:
            ours_labels = [
                row["label"] for _, row in zip(sample, csv.DictReader(handle), strict=False)
            ]
        agree = sum(a == b for a, b in zip(ours_labels, naive_labels, strict=True)) / len(sample)
        print(
            f"labels:   int8 rescore and fp32 pipeline agree on {100 * agree:.1f}% of the {len(sample):,} sampled rows"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
