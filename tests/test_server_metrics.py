"""Prometheus text exposition of the receiver's metrics."""

from __future__ import annotations

from transformer.server.metrics import Counter, Gauge, Histogram, ReceiverMetrics, Registry


def test_counters_render_with_help_type_and_sorted_escaped_labels() -> None:
    registry = Registry()
    counter = Counter("x_total", "Things.", initial=[{"reason": "b"}])
    registry.add(counter)
    counter.inc(reason="a")
    counter.inc(2, reason='say "hi"\\\n')
    assert registry.render() == (
        "# HELP x_total Things.\n"
        "# TYPE x_total counter\n"
        'x_total{reason="a"} 1\n'
        'x_total{reason="b"} 0\n'
        'x_total{reason="say \\"hi\\"\\\\\\n"} 2\n')
    assert counter.value(reason="a") == 1 and counter.value(reason="c") == 0


def test_gauges_are_set_and_keep_fractions() -> None:
    registry = Registry()
    gauge = Gauge("depth", "Depth.")
    registry.add(gauge)
    gauge.set(3)
    gauge.set(2.5)
    assert registry.render().splitlines()[-1] == "depth 2.5"


def test_histograms_render_cumulative_buckets_sum_and_count() -> None:
    registry = Registry()
    histogram = Histogram("lat_seconds", "Latency.", [0.01, 0.1])
    registry.add(histogram)
    for value in (0.005, 0.05, 0.05, 3.0):
        histogram.observe(value)
    assert registry.render().splitlines()[2:] == [
        'lat_seconds_bucket{le="0.01"} 1',
        'lat_seconds_bucket{le="0.1"} 3',
        'lat_seconds_bucket{le="+Inf"} 4',
        "lat_seconds_sum 3.105",
        "lat_seconds_count 4",
    ]


def test_the_receiver_exposes_every_metric_the_issue_asks_for() -> None:
    metrics = ReceiverMetrics(["missing", "stale"])
    metrics.skipped.inc(rule="no_identity")
    metrics.set_aside.inc(3, reason="id shorter than min_id_length")
    text = metrics.render()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names == {
        "transformer_webhooks_received_total", "transformer_webhooks_signature_rejected_total",
        "transformer_webhooks_invalid_total", "transformer_webhooks_skipped_total",
        "transformer_webhooks_duplicate_total", "transformer_webhooks_payload_errors_total",
        "transformer_webhooks_store_errors_total", "transformer_events_stored_total",
        "transformer_events_delivered_total", "transformer_events_set_aside_total",
        "transformer_delivery_requests_total", "transformer_delivery_retries_total",
        "transformer_store_commits_total", "transformer_queue_depth",
        "transformer_queue_oldest_age_seconds", "transformer_queue_leased", "transformer_dead_letters",
        "transformer_events_released_total",
        "transformer_events_settle_stale_total",
        "transformer_forwarding_blocked", "transformer_webhook_duration_seconds",
        "transformer_forwarding_errors_total", "transformer_http_refused_total",
        "transformer_http_connections"}
    assert 'transformer_webhooks_skipped_total{rule="no_identity"} 1' in text
    assert 'transformer_events_set_aside_total{reason="id shorter than min_id_length"} 3' in text
    assert 'transformer_webhooks_signature_rejected_total{reason="stale"} 0' in text


def test_other_processes_snapshots_are_summed_except_gauges_each_process_reads_itself() -> None:
    """`serve --workers`: a worker's /metrics adds the others' snapshots (`peers.py`)."""
    def metrics() -> tuple[Registry, Counter, Gauge, Gauge, Histogram]:
        registry = Registry()
        parts = (Counter("x_total", "X.", initial=[{"reason": "a"}]), Gauge("conns", "Conns."),
                 Gauge("depth", "Depth.", own=True), Histogram("lat", "Lat.", [0.1]))
        for part in parts:
            registry.add(part)
        return (registry, *parts)

    mine, counter, conns, depth, latency = metrics()
    theirs, their_counter, their_conns, their_depth, their_latency = metrics()
    counter.inc(2, reason="a")
    their_counter.inc(3, reason="a")
    their_counter.inc(reason="b")
    conns.set(4)
    their_conns.set(5)
    depth.set(7)
    their_depth.set(6)
    latency.observe(0.05)
    their_latency.observe(1.0)
    snapshot = theirs.snapshot()
    assert mine.render([snapshot]).splitlines() == [
        "# HELP x_total X.", "# TYPE x_total counter", 'x_total{reason="a"} 5', 'x_total{reason="b"} 1',
        "# HELP conns Conns.", "# TYPE conns gauge", "conns 9",
        "# HELP depth Depth.", "# TYPE depth gauge", "depth 7",
        "# HELP lat Lat.", "# TYPE lat histogram", 'lat_bucket{le="0.1"} 1', 'lat_bucket{le="+Inf"} 2',
        "lat_sum 1.05", "lat_count 2"]
    assert mine.render([snapshot, {}]) == mine.render([snapshot])   # a process that has no such metric
    assert ReceiverMetrics().render([ReceiverMetrics().registry.snapshot()]) == ReceiverMetrics().render()
