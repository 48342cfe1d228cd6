"""``feedback-classifier serve`` as a user runs it: a real process, a real model, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from model.classifier import Classifier
from tests.test_cli import run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_serve_loads_labels_and_stops_cleanly(tiny_artifact: Path) -> None:
    port = free_port()
    env = {**os.environ, "FEEDBACK_MODEL_PATH": str(tiny_artifact)}
    cmd = [sys.executable, "-m", "service", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while get(f"{base}/readyz")[0] != 200:
            assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "not ready within 60 s"
            time.sleep(0.1)
        text = "Thanks, that sorted it."
        status, body = post(f"{base}/v1/classify", {"text": text})
        expected = Classifier.load(tiny_artifact).predict([text])[0]
        assert status == 200
        assert body["label"] == expected.label
        assert body["model_version"] == Classifier.load(tiny_artifact).version
        # torch stays out of the serving process when ONNX serves.
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "libtorch" not in maps
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal, as process managers expect.
    assert proc.returncode == -signal.SIGTERM
    log = out.decode()
    assert "Application shutdown complete" in log
    assert text not in log


def test_serve_refuses_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_MAX_TEXT_CHARS", "lots")
    code, out, err = run("serve")
    assert (code, out) == (1, "")
    assert err == (
        "Error: invalid settings: FEEDBACK_MAX_TEXT_CHARS: Input should be a valid integer, "
        "unable to parse string as an integer (got 'lots')\n"
    )


def test_serve_refuses_a_missing_model(tmp_path: Path) -> None:
    code, _, err = run("serve", "--model", str(tmp_path / "nope"))
    assert code == 1
    assert err == f"Error: model artifact {tmp_path / 'nope'} does not exist or is not a folder\n"


def test_production_needs_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_ENVIRONMENT", "production")
    code, _, err = run("serve")
    assert code == 1
    assert err == (
        "Error: invalid settings: FEEDBACK_ENVIRONMENT=production refuses to serve without "
        "FEEDBACK_API_KEYS; set one or more comma-separated keys\n"
    )


def test_short_api_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_API_KEYS", "abc")
    code, _, err = run("serve")
    assert code == 1
    assert "FEEDBACK_API_KEYS: every API key needs at least 16 characters" in err
    assert "abc" not in err
