"""Prometheus metrics, in a registry of the app's own (so two apps in one process don't clash).

Route labels are the route's template (``/v1/comments/{comment_id}``), never the raw path,
so the number of series stays bounded.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "feedback_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "feedback_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "feedback_batch_size",
            "Texts per model run, after micro-batching.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "feedback_inference_duration_seconds",
            "Time of one model run (tokenising and inference).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "feedback_queue_depth",
            "Texts waiting for the model.",
            registry=self.registry,
        )
        self.predictions = Counter(
            "feedback_predictions",
            "Comments labelled, by label and model version.",
            ["label", "model_version"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "feedback_ready", "1 once the model is loaded and warm.", registry=self.registry
        )
        self.webhook_comments = Counter(
            "feedback_webhook_comments",
            "Comments delivered by CRM webhooks, by provider; result: stored or duplicate.",
            ["provider", "result"],
            registry=self.registry,
        )
        self.labelling_deferred = Counter(
            "feedback_labelling_deferred",
            "Stored comments left pending for the background worker, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.pending_labelled = Counter(
            "feedback_pending_labelled",
            "Pending comments the background worker labelled.",
            registry=self.registry,
        )
        self.callbacks = Counter(
            "feedback_callbacks",
            "Outbound callbacks: delivered, retried, rejected, failed or dropped.",
            ["outcome"],
            registry=self.registry,
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request (plain ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
