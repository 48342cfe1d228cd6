"""Throughput and latency of the service beside a naive baseline, measured in the same run.

    .venv/bin/python -m benchmarks.serve_bench [--rounds 3] [--seconds 15] [--json FILE]

Starts ``feedback-classifier serve`` (ours) and ``benchmarks/naive_app.py`` under uvicorn
(the baseline: ``transformers.pipeline`` called once per request, same size of model), one
at a time on free loopback ports, and for each measures:

- start to ready: from spawning the process to the first 200 on ``/readyz``;
- single-comment ``POST /v1/classify`` at 8 and 32 concurrent keep-alive connections:
  requests/s, p50/p95/p99 latency, errors;
- ``POST /v1/classify/batch`` with 64 comments a request: comments/s;
- the server's peak resident memory (``VmHWM`` in ``/proc/<pid>/status``);

then in-process throughput (``Classifier.predict_scores`` on 64-comment lists, and the
pipeline on the same lists). Comments are sampled from ``training/data/*.jsonl``: those of
10 to 60 tokens, as most real comments are. With ``--rounds N`` the two servers are
measured N times, alternating which goes first, and each figure comes from the median
run. It prints markdown tables and, with ``--json``, writes every figure of every round.

The load generator (``benchmarks/loadgen.py``) runs in this process and shares the cores
with the server: its CPU use, the server's and everything else's on the machine are
reported for each run, so a noisy neighbour shows up in the output rather than only in
the numbers. The baseline needs the ``build`` extra (torch, transformers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.loadgen import LoadResult, post_request, run_load

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "training" / "data"
DEFAULT_MODEL = ROOT / "model" / "default"
TICKS = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


# ---- the comments ------------------------------------------------------------------------


def sample_comments(
    model: Path, count: int, min_tokens: int = 10, max_tokens: int = 60, seed: int = 0
) -> list[str]:
    """``count`` comments of the corpus with ``min_tokens`` to ``max_tokens`` word pieces."""
    from tokenizers import Tokenizer

    from model.build import TOKENIZER_FILE, ensure_built

    tokenizer = Tokenizer.from_file(str(ensure_built(model) / TOKENIZER_FILE))
    tokenizer.no_padding()  # the file pads and cuts to 128 tokens; count the real ones
    tokenizer.no_truncation()
    texts = [
        json.loads(line)["text"]
        for path in sorted(DATA.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    fitting = [t for t, n in zip(texts, lengths, strict=True) if min_tokens <= n <= max_tokens]
    random.Random(seed).shuffle(fitting)
    return fitting[:count]


# ---- CPU and memory from /proc -----------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> float:
    """CPU seconds every core of the machine has spent not idle, since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """Peak (``VmHWM``) and current (``VmRSS``) resident memory, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_snapshot(pid: int) -> Callable[[], dict[str, float]]:
    def snapshot() -> dict[str, float]:
        return {
            "server": process_cpu(pid),
            "client": time.process_time(),
            "machine": machine_busy(),
        }

    return snapshot


# ---- servers -----------------------------------------------------------------------------


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_s: float = 0.0

    @classmethod
    def start(
        cls, name: str, cmd: Sequence[str], env: dict[str, str], logs: Path, timeout: float = 180
    ) -> Server:
        port = free_port()
        log = logs / f"{name}.log"
        started = time.perf_counter()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*cmd, "--port", str(port)], env=env, cwd=ROOT, stdout=out, stderr=out
            )
        server = cls(name, proc, port, log)
        while _status(f"http://{HOST}:{port}/readyz") != 200:
            if proc.poll() is not None or time.perf_counter() - started > timeout:
                server.stop()
                raise SystemExit(f"{name} did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.01)
        server.ready_s = time.perf_counter() - started
        return server

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- one server, measured ----------------------------------------------------------------


@dataclass
class Measured:
    name: str
    ready_s: float = 0.0
    single: dict[int, LoadResult] = field(default_factory=dict)
    batch: LoadResult | None = None
    memory: dict[str, float] = field(default_factory=dict)
    in_process: float = 0.0  # comments/s
    in_process_other: float = 0.0  # cores other processes used meanwhile


def measure_server(
    server: Server,
    single: Sequence[bytes],
    batch: Sequence[bytes],
    args: argparse.Namespace,
) -> Measured:
    measured = Measured(server.name, server.ready_s)
    snapshot = cpu_snapshot(server.proc.pid)
    for concurrency in args.concurrency:
        result = asyncio.run(
            run_load(
                HOST,
                server.port,
                single,
                concurrency,
                args.seconds,
                args.warmup,
                snapshot=snapshot,
            )
        )
        measured.single[concurrency] = result
        report_progress(server.name, f"single @{concurrency}", result, "req/s")
    result = asyncio.run(
        run_load(
            HOST,
            server.port,
            batch,
            args.batch_concurrency,
            args.seconds,
            args.warmup,
            check='"results"',
            snapshot=snapshot,
        )
    )
    measured.batch = result
    report_progress(
        server.name, f"batch of {args.batch_docs} @{args.batch_concurrency}", result, "req/s"
    )
    measured.memory = memory_mb(server.proc.pid)
    return measured


def median_run(measured: list[Measured]) -> Measured:
    """Across rounds: each load level's median run by throughput (with that run's own
    latencies and CPU figures), the median start time, and the highest peak memory."""

    def median(results: list[LoadResult]) -> LoadResult:
        return sorted(results, key=lambda r: r.requests_per_s)[len(results) // 2]

    first = measured[0]
    batches = [m.batch for m in measured if m.batch is not None]
    return Measured(
        first.name,
        ready_s=sorted(m.ready_s for m in measured)[len(measured) // 2],
        single={c: median([m.single[c] for m in measured]) for c in first.single},
        batch=median(batches) if batches else None,
        memory={k: max(m.memory[k] for m in measured) for k in first.memory},
    )


def report_progress(name: str, what: str, result: LoadResult, unit: str) -> None:
    usage = ", ".join(f"{k} {v / result.seconds:.2f}" for k, v in cpu_cores(result).items())
    print(
        f"  {name:8s} {what:18s} {result.requests_per_s:8.1f} {unit}  "
        f"p99 {result.percentile_ms(99):7.1f} ms  errors {result.errors}  cores: {usage}",
        file=sys.stderr,
        flush=True,
    )
    if result.bad_body is not None:
        print(f"  unexpected body: {result.bad_body}", file=sys.stderr)


def cpu_cores(result: LoadResult) -> dict[str, float]:
    """CPU seconds of the window: the server, this load generator, and everything else."""
    cpu = result.cpu
    if not cpu:
        return {}
    other = max(0.0, cpu["machine"] - cpu["server"] - cpu["client"])
    return {"server": cpu["server"], "loadgen": cpu["client"], "other": other}


# ---- in-process --------------------------------------------------------------------------


def timed(
    fn: Callable[[list[str]], object], texts: list[str], chunk: int, seconds: float
) -> tuple[float, float]:
    """Comments per second of ``fn`` over ``chunk``-sized lists, for at least ``seconds``,
    and the cores that other processes kept busy meanwhile."""
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    fn(chunks[0])  # warm-up
    done, started = 0, time.perf_counter()
    busy, cpu = machine_busy(), time.process_time()
    while True:
        for part in chunks:
            fn(part)
            done += len(part)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            other = (machine_busy() - busy) - (time.process_time() - cpu)
            return done / elapsed, max(0.0, other) / elapsed


def in_process_ours(
    model: Path, texts: list[str], chunk: int, seconds: float
) -> tuple[float, float]:
    from model.bucketing import CALL_COST_TOKENS
    from model.classifier import Classifier
    from service.settings import load_settings

    settings = load_settings(model_path=model)
    clf = Classifier.load(model, backend=settings.backend, threads=settings.threads)
    return timed(
        # As the service runs it (service/runtime.py).
        lambda part: clf.predict_scores(
            part, settings.batch_max_size, settings.batch_max_tokens, call_cost=CALL_COST_TOKENS
        ),
        texts,
        chunk,
        seconds,
    )


def in_process_baseline(
    hf_dir: Path, texts: list[str], chunk: int, seconds: float
) -> tuple[float, float]:
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(hf_dir), top_k=None, truncation=True)
    return timed(lambda part: clf(part, batch_size=chunk), texts, chunk, seconds)


# ---- report ------------------------------------------------------------------------------


def _ratio(ours: float, base: float | None) -> str:
    return f"{ours / base:.2f}×" if base else ""


def figures(m: Measured, args: argparse.Namespace) -> list[tuple[str, float, str, bool]]:
    """The table's rows for one server: label, value, format, whether a ratio means anything."""
    rows: list[tuple[str, float, str, bool]] = [("start to ready (s)", m.ready_s, ".2f", False)]
    for c, r in m.single.items():
        rows.append((f"single @{c}: req/s", r.requests_per_s, ".0f", True))
        rows += [(f"single @{c}: p{q} (ms)", r.percentile_ms(q), ".1f", True) for q in (50, 95, 99)]
        rows.append((f"single @{c}: errors", r.errors, "d", False))
    if m.batch:
        batch = f"batch of {args.batch_docs} @{args.batch_concurrency}"
        rows.append((f"{batch}: comments/s", m.batch.requests_per_s * args.batch_docs, ".0f", True))
        rows.append((f"{batch}: p99 (ms)", m.batch.percentile_ms(99), ".0f", True))
        rows.append((f"{batch}: errors", m.batch.errors, "d", False))
    rows.append(("peak RSS (MB)", m.memory["VmHWM"], ".0f", True))
    if not args.skip_in_process:
        rows.append(
            (f"in-process, lists of {args.batch_docs}: comments/s", m.in_process, ".0f", True)
        )
    return rows


def table(ours: Measured, base: Measured | None, args: argparse.Namespace) -> str:
    lines = ["| | ours | naive baseline | ours / baseline |", "|---|---:|---:|---:|"]
    theirs = figures(base, args) if base else None
    for i, (label, value, fmt, ratio) in enumerate(figures(ours, args)):
        other = theirs[i][1] if theirs else None
        shown = format(other, fmt) if other is not None else ""
        times = _ratio(value, other) if ratio and other is not None else ""
        lines.append(f"| {label} | {format(value, fmt)} | {shown} | {times} |")
    return "\n".join(lines)


def load_table(ours: Measured, base: Measured | None, args: argparse.Namespace) -> str:
    """Mean cores busy in each measured window: the server, the load generator, and every
    other process on the machine (other workers, when it is shared)."""

    def cell(r: LoadResult | None) -> str:
        if r is None:
            return ""
        cores = {k: v / r.seconds for k, v in cpu_cores(r).items()}
        return f"{cores['server']:.2f} / {cores['loadgen']:.2f} / {cores['other']:.2f}"

    head = "| cores busy: server / load generator / other processes | ours | naive baseline |"
    lines = [head, "|---|---:|---:|"]
    for c in ours.single:
        lines.append(
            f"| single @{c} | {cell(ours.single[c])} | {cell(base.single[c] if base else None)} |"
        )
    lines.append(
        f"| batch of {args.batch_docs} @{args.batch_concurrency} "
        f"| {cell(ours.batch)} | {cell(base.batch if base else None)} |"
    )
    if not args.skip_in_process:
        theirs = f"other {base.in_process_other:.2f}" if base else ""
        lines.append(f"| in-process | other {ours.in_process_other:.2f} | {theirs} |")
    return "\n".join(lines)


def targets(ours: Measured, base: Measured | None, args: argparse.Namespace) -> str:
    checks = []
    if base and 32 in ours.single and 32 in base.single:
        ratio = ours.single[32].requests_per_s / base.single[32].requests_per_s
        checks.append((f"throughput @32 ≥ 3× baseline: {ratio:.2f}×", ratio >= 3))
    if 8 in ours.single:
        p99 = ours.single[8].percentile_ms(99)
        checks.append((f"p99 @8 ≤ 50 ms: {p99:.1f} ms", p99 <= 50))
    checks.append(
        (f"peak RSS ≤ 400 MB: {ours.memory['VmHWM']:.0f} MB", ours.memory["VmHWM"] <= 400)
    )
    checks.append((f"start to ready ≤ 3 s: {ours.ready_s:.2f} s", ours.ready_s <= 3))
    errors = sum(r.errors for r in ours.single.values())
    checks.append((f"no errors: {errors}", errors == 0))
    return "\n".join(f"- [{'x' if ok else ' '}] {text}" for text, ok in checks)


def to_json(m: Measured, args: argparse.Namespace) -> dict[str, Any]:
    def load(r: LoadResult) -> dict[str, Any]:
        return {
            "concurrency": r.concurrency,
            "seconds": r.seconds,
            "requests": len(r.latencies),
            "requests_per_s": r.requests_per_s,
            "latency_ms": {f"p{q}": r.percentile_ms(q) for q in (50, 90, 95, 99)},
            "max_ms": max(r.latencies, default=0.0) * 1000,
            "errors": r.errors,
            "statuses": r.statuses,
            "cpu_cores": {k: v / r.seconds for k, v in cpu_cores(r).items()},
        }

    return {
        "ready_s": m.ready_s,
        "single": {str(c): load(r) for c, r in m.single.items()},
        "batch": {**load(m.batch), "documents": args.batch_docs} if m.batch else None,
        "memory_mb": m.memory,
        "in_process_comments_per_s": m.in_process,
        "in_process_other_cores": m.in_process_other,
    }


# ---- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model artifact folder")
    p.add_argument("--seconds", type=float, default=15, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before each run")
    p.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    p.add_argument("--batch-docs", type=int, default=64, help="comments per batch request")
    p.add_argument("--batch-concurrency", type=int, default=2)
    p.add_argument("--comments", type=int, default=2000, help="distinct comments to send")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each server this many times, alternating; report the median run",
    )
    p.add_argument("--skip-baseline", action="store_true", help="measure only our service")
    p.add_argument("--skip-in-process", action="store_true")
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    texts = sample_comments(args.model, args.comments, seed=args.seed)
    single = [post_request("/v1/classify", {"text": t}) for t in texts]
    batch = [
        post_request(
            "/v1/classify/batch",
            {
                "documents": [
                    {"id": str(i + j), "text": t}
                    for j, t in enumerate(texts[i : i + args.batch_docs])
                ]
            },
        )
        for i in range(0, len(texts) - args.batch_docs + 1, args.batch_docs)
    ]
    load_before = os.getloadavg()
    print(
        f"{len(texts)} comments of 10-60 tokens; {os.cpu_count()} cores; "
        f"load average {load_before[0]:.2f} before the run",
        file=sys.stderr,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASELINE_")}
    ours_cmd = [sys.executable, "-m", "service", "serve", "--log-level", "warning"]
    base_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.naive_app:app", "--host", HOST]
    runs: dict[str, list[Measured]] = {"ours": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        work = Path(tmp)
        hf_dir = work / "baseline-model"
        names = ["ours"]
        if not args.skip_baseline:
            from benchmarks.naive_app import export_hf_folder

            export_hf_folder(args.model, hf_dir)
            names.append("baseline")
        for round_ in range(args.rounds):
            # Alternate which goes first, so a neighbour's burst does not always hit one side.
            for name in names if round_ % 2 == 0 else names[::-1]:
                if name == "ours":
                    cmd = [*ours_cmd, "--model", str(args.model)]
                    server = Server.start(name, cmd, env, work)
                else:
                    cmd = [*base_cmd, "--log-level", "warning"]
                    server = Server.start(
                        name, cmd, {**env, "BASELINE_MODEL_DIR": str(hf_dir)}, work
                    )
                try:
                    runs[name].append(measure_server(server, single, batch, args))
                finally:
                    server.stop()
        ours = median_run(runs["ours"])
        base = median_run(runs["baseline"]) if runs["baseline"] else None

        if not args.skip_in_process:
            ours.in_process, ours.in_process_other = in_process_ours(
                args.model, texts, args.batch_docs, args.seconds
            )
            print(f"  ours     in-process {ours.in_process:8.1f} comments/s", file=sys.stderr)
            if base is not None:
                base.in_process, base.in_process_other = in_process_baseline(
                    hf_dir, texts, args.batch_docs, args.seconds
                )
                print(f"  baseline in-process {base.in_process:8.1f} comments/s", file=sys.stderr)

    load_after = os.getloadavg()
    print(
        f"\n{cpu_model()}, {os.cpu_count()} cores, "
        f"load average {load_before[0]:.2f} before and {load_after[0]:.2f} after; "
        f"{args.seconds:g} s per run after {args.warmup:g} s warm-up, "
        f"median of {args.rounds} round(s)\n"
    )
    print(table(ours, base, args))
    print()
    print(load_table(ours, base, args))
    print("\nTargets:")
    print(targets(ours, base, args))
    if args.json:
        payload = {
            "machine": {
                "cores": os.cpu_count(),
                "loadavg_before": load_before,
                "loadavg_after": load_after,
            },
            "settings": {k: str(v) for k, v in vars(args).items()},
            "ours": to_json(ours, args),
            "baseline": to_json(base, args) if base else None,
            "rounds": {name: [to_json(m, args) for m in ms] for name, ms in runs.items()},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
