"""Counters, gauges and a histogram, rendered in Prometheus' text exposition format (0.0.4).

Written by hand rather than with prometheus-client: the receiver is one process with a dozen
metrics, and the format is a few lines of text; this keeps a dependency (and its global default
registry) out of an app that users may mount inside their own ASGI stack.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "HTTP_LIMIT_REASONS",
    "Counter",
    "Gauge",
    "Histogram",
    "Labels",
    "ReceiverMetrics",
    "Registry",
]

HTTP_LIMIT_REASONS = ("headers_too_large", "request_timeout", "body_timeout", "too_many_connections",
                      "evicted")

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self, others: Sequence[Any] = ()) -> list[str]:
        """This metric's lines, its values summed with `others` (other processes' `snapshot()`)."""
        raise NotImplementedError

    def snapshot(self) -> Any:
        """The values, as JSON, for another process's `lines`."""
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up, optionally split by labels."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, *, initial: Iterable[Mapping[str, str]] = ()) -> None:
        super().__init__(name, help_text)
        self._values: dict[Labels, float] = {}
        for labels in initial:
            self._values[tuple(labels.items())] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to the series with these labels."""
        key = tuple(labels.items())
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current value of one series (0 when never counted)."""
        return self._values.get(tuple(labels.items()), 0.0)

    def lines(self, others: Sequence[Any] = ()) -> list[str]:
        with self._lock:
            values = dict(self._values)
        for snapshot in others:
            for labels, value in snapshot:
                key = tuple((str(name), str(text)) for name, text in labels)
                values[key] = values.get(key, 0.0) + float(value)
        return [f"{self.name}{_labels(key)} {_number(value)}" for key, value in sorted(values.items())]

    def snapshot(self) -> Any:
        with self._lock:
            return [[list(key), value] for key, value in self._values.items()]


class Gauge(Counter):
    """A value that is set (queue depth, age of the oldest event)."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, *, own: bool = False) -> None:
        super().__init__(name, help_text)
        self.own = own   # show this process's value only: what each process reads from the shared queue

    def lines(self, others: Sequence[Any] = ()) -> list[str]:
        return super().lines(() if self.own else others)

    def set(self, value: float, **labels: str) -> None:
        """Replace the series' value."""
        with self._lock:
            self._values[tuple(labels.items())] = value


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help_text)
        self.buckets = (*sorted(buckets), math.inf)
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        with self._lock:
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
                    break
            self._sum += value

    def lines(self, others: Sequence[Any] = ()) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        for snapshot in others:
            if len(snapshot["counts"]) == len(counts):
                counts = [mine + theirs for mine, theirs in zip(counts, snapshot["counts"], strict=True)]
                total += snapshot["sum"]
        out, running = [], 0
        for bound, count in zip(self.buckets, counts, strict=True):
            running += count
            out.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {running}')
        out.append(f"{self.name}_sum {_number(total)}")
        out.append(f"{self.name}_count {running}")
        return out

    def snapshot(self) -> Any:
        with self._lock:
            return {"counts": list(self._counts), "sum": self._sum}


class Registry:
    """The metrics of one receiver, in the order they were made."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> None:
        """Include a metric in `render`."""
        self.metrics.append(metric)

    def render(self, others: Sequence[Mapping[str, Any]] = ()) -> str:
        """Every metric in the text exposition format, summed with `others` (other processes'
        `snapshot()`: the workers of `serve --workers` and their supervisor)."""
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.lines([other[metric.name] for other in others if metric.name in other]))
        return "\n".join(lines) + "\n"

    def snapshot(self) -> dict[str, Any]:
        """Every metric's values, as JSON."""
        return {metric.name: metric.snapshot() for metric in self.metrics}


class ReceiverMetrics:
    """Everything `transformer serve` counts; see README.md for the meaning of each."""

    def __init__(self, signature_reasons: Iterable[str] = ()) -> None:
        self.registry = registry = Registry()

        def counter(name: str, help_text: str, **kw: Iterable[Mapping[str, str]]) -> Counter:
            metric = Counter(f"transformer_{name}", help_text, **kw)
            registry.add(metric)
            return metric

        def gauge(name: str, help_text: str, own: bool = False) -> Gauge:
            metric = Gauge(f"transformer_{name}", help_text, own=own)
            registry.add(metric)
            return metric

        self.received = counter("webhooks_received_total", "Webhook requests received.")
        self.rejected_signatures = counter(
            "webhooks_signature_rejected_total", "Webhooks refused with 401, by reason.",
            initial=[{"reason": r} for r in signature_reasons])
        self.invalid = counter("webhooks_invalid_total",
                               "Webhooks refused as too large (413) or not JSON (400).",
                               initial=[{"reason": "too_large"}, {"reason": "not_json"}])
        self.skipped = counter("webhooks_skipped_total",
                               "Webhooks acknowledged and not stored because a skip rule held, by rule.")
        self.duplicates = counter("webhooks_duplicate_total",
                                  "Webhooks acknowledged and not stored again: event_id already seen.")
        self.payload_errors = counter(
            "webhooks_payload_errors_total",
            "Webhooks acknowledged that the mapping cannot handle, kept as dead letters.")
        self.store_errors = counter("webhooks_store_errors_total",
                                    "Webhooks answered 503 because the store could not commit them.")
        self.stored = counter("events_stored_total", "Events committed to the store for delivery.")
        self.delivered = counter("events_delivered_total", "Events Amplitude accepted.")
        self.set_aside = counter("events_set_aside_total",
                                 "Events moved to the dead letters by the sender, by reason.")
        self.released = counter(
            "events_released_total",
            "Events given back to the queue, not accepted within the retry window; tried again later.")
        self.stale = counter(
            "events_settle_stale_total",
            "Settles that changed nothing: the event's lease had passed to another receiver (this one "
            "stalled past it), or it was settled already.")
        self.requests = counter("delivery_requests_total", "Requests made to Amplitude.")
        self.retries = counter("delivery_retries_total",
                               "Requests to Amplitude that carried events sent before.")
        self.commits = counter("store_commits_total",
                               "Store transactions (each commits a group of webhooks, or settles events).")
        self.forwarding_errors = counter(
            "forwarding_errors_total",
            "Requests to Amplitude not accepted, by status or network; internal: failed rounds.",
            initial=[{"kind": k} for k in ("network", "429", "500", "502", "503", "internal")])
        self.http_refused = counter(
            "http_refused_total", "Connections answered and closed by an HTTP limit, by limit.",
            initial=[{"reason": r} for r in HTTP_LIMIT_REASONS])
        self.connections = gauge("http_connections", "Open HTTP connections.")
        # read from the queue when /metrics is asked: the same in every process that shares it
        self.queue_depth = gauge("queue_depth", "Events waiting for Amplitude.", own=True)
        self.oldest_age = gauge("queue_oldest_age_seconds",
                                "Seconds since the oldest waiting event was received (0 when none).",
                                own=True)
        self.leased = gauge("queue_leased",
                            "Events claimed by a forwarder and not settled yet (under a lease).", own=True)
        self.dead_letters = gauge("dead_letters", "Dead letters kept in the store.", own=True)
        self.blocked = gauge("forwarding_blocked",
                             "1 while Amplitude refuses every request (invalid API key, 4xx); events wait.")
        self.duration = Histogram(
            "transformer_webhook_duration_seconds",
            "Time from a webhook's request to its answer (signature, mapping, commit).",
            [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0])
        registry.add(self.duration)
        self.blocked.set(0)

    def render(self, others: Sequence[Mapping[str, Any]] = ()) -> str:
        """The text exposition of every metric (summed with `others`: see `Registry.render`)."""
        return self.registry.render(others)
