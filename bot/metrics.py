"""The bot's Prometheus metrics: one registry per process, owned by :mod:`bot.runtime`.

What is measured, and where it is hooked in (so nothing else imports
prometheus_client):

- Slack requests handled, by kind, and how long each took to acknowledge:
  :meth:`BotMetrics.wrap_dispatch` times ``App.dispatch``, which both
  transports (HTTP and Socket Mode) call and which returns once the listener
  has acked. The same wrapper tags log lines with the event and request ids.
- Slack Web API calls by method, and the 429s among them:
  :meth:`BotMetrics.instrument_client` (a wrapper on ``api_call`` and a retry
  handler that only counts, ahead of slack_sdk's own rate-limit handler).
- Validations (count by verdict, seconds, bytes): :meth:`BotMetrics.validated`,
  called by the drop flow.
- The progress tick's seconds: :meth:`BotMetrics.ticked`.
- Jobs by provider and status: read from the database at scrape time.

Labels are bounded (kinds, API method names, verdicts, providers, statuses);
no job, dataset, user or channel id is ever a label.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler, RetryState
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from sqlalchemy.engine import Engine

from core.logs import log_ids
from core.store.jobs import job_counts

logger = logging.getLogger(__name__)

_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,48}$")
ACK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
"""Seconds; Slack retries anything not acked within 3 s, so the buckets bracket it."""


def _label(value: object) -> str:
    text = str(value or "")
    return text if _LABEL.match(text) else "other"


def request_kind(body: dict[str, Any]) -> str:
    """``message``, ``app_home_opened``, ``command``, ``block_actions``, ``view_submission``…"""
    if "command" in body:
        return "command"
    if body.get("type") == "event_callback" and isinstance(body.get("event"), dict):
        return _label(body["event"].get("type"))
    return _label(body.get("type"))


class _CountRateLimits(RetryHandler):
    """Counts each 429 slack_sdk sees (retried or not); never retries itself."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(max_retry_count=0)
        self.counter = counter

    # can_retry, not _can_retry: the base class skips _can_retry once
    # max_retry_count (0 here) is reached, which would hide every 429.
    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            self.counter.labels(_label(request.url.rsplit("/", 1)[-1])).inc()
        return False


class _JobsCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "tunebot_jobs", "Training jobs by provider and status.", labels=["provider", "status"]
        )
        for (provider, status), count in sorted(job_counts(self.engine).items()):
            family.add_metric([_label(provider), _label(status)], count)
        yield family


class BotMetrics:
    """Every bot metric, on :attr:`registry` (scraped at ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tunebot_slack_requests", "Slack requests handled, by kind.", ["kind"], registry=r
        )
        self.ack_seconds = Histogram(
            "tunebot_ack_seconds",
            "Seconds from a Slack request reaching bolt to its acknowledgement.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.validations = Counter(
            "tunebot_validations", "Datasets validated, by verdict.", ["verdict"], registry=r
        )
        self.validation_seconds = Histogram(
            "tunebot_validation_seconds",
            "Seconds to download and validate one dataset.",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.validation_bytes = Counter(
            "tunebot_validation_bytes", "Bytes of dataset files validated.", registry=r
        )
        self.slack_calls = Counter(
            "tunebot_slack_api_calls", "Slack Web API calls, by method.", ["method"], registry=r
        )
        self.slack_rate_limited = Counter(
            "tunebot_slack_api_rate_limited",
            "HTTP 429 answers from the Slack Web API, by method.",
            ["method"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            "tunebot_poll_tick_seconds",
            "Seconds one progress tick took (claim, poll, post, edit).",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=r,
        )

    # --- hooks ----------------------------------------------------------------
    def wrap_dispatch(self, app: App) -> None:
        """Time and count every request bolt dispatches, with ids for the logs."""
        dispatch = app.dispatch

        def timed(req: BoltRequest) -> BoltResponse:
            kind = request_kind(req.body) if isinstance(req.body, dict) else "other"
            started = time.perf_counter()
            event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
            with log_ids(event_id=event_id, request_id=uuid.uuid4().hex[:16]):
                try:
                    return dispatch(req)
                finally:
                    seconds = time.perf_counter() - started
                    self.requests.labels(kind).inc()
                    self.ack_seconds.labels(kind).observe(seconds)
                    # One access line per request: its ids tie it to the work's lines.
                    logger.info("slack %s acked in %.3f s", kind, seconds)

        # An instance attribute: both transports look dispatch up on the app.
        app.dispatch = timed  # type: ignore[method-assign]  # wrapping, same signature

    def instrument_client(self, client: WebClient) -> None:
        """Count ``client``'s API calls and the 429s among them."""
        api_call = client.api_call

        def counted(api_method: str, *args: Any, **kwargs: Any) -> Any:
            self.slack_calls.labels(_label(api_method)).inc()
            return api_call(api_method, *args, **kwargs)

        client.api_call = counted  # type: ignore[method-assign]  # wrapping, same signature
        client.retry_handlers.insert(0, _CountRateLimits(self.slack_rate_limited))

    def watch_jobs(self, engine: Engine) -> None:
        """Export jobs by provider and status, counted in ``engine`` at scrape time."""
        self.registry.register(_JobsCollector(engine))

    def validated(self, *, verdict: str, seconds: float, size_bytes: int) -> None:
        self.validations.labels(_label(verdict)).inc()
        self.validation_seconds.observe(seconds)
        self.validation_bytes.inc(max(0, size_bytes))

    def ticked(self, seconds: float) -> None:
        self.tick_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
