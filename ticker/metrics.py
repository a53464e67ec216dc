"""Prometheus metrics of one ticker process (a registry of its own, served on /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            "ticker_polls", "Polls by source and outcome", ["source", "outcome"], registry=r
        )
        self.poll_duration = Histogram(
            "ticker_poll_duration_seconds",
            "Wall time of a poll, fetch to commit",
            ["source"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.items_seen = Gauge(
            "ticker_items_on_page", "Ticker items on the page at the last parse", ["source"],
            registry=r,
        )  # fmt: skip
        self.items_new = Counter("ticker_items_new", "New items detected", ["source"], registry=r)
        self.deliveries = Counter(
            "ticker_deliveries", "Deliveries by channel and outcome", ["channel", "outcome"],
            registry=r,
        )  # fmt: skip
        self.outbox_depth = Gauge("ticker_outbox_pending", "Pending deliveries", registry=r)
        self.outbox_oldest = Gauge(
            "ticker_outbox_oldest_pending_seconds", "Age of the oldest pending delivery",
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "ticker_delivery_latency_seconds",
            "From an item first seen to its delivery, per channel",
            ["channel"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.loop_lag = Histogram(
            "ticker_loop_lag_seconds",
            "How late the event loop wakes a 250 ms sleep (the service's responsiveness)",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
            registry=r,
        )
        self.story_lines = Counter(
            "ticker_story_lines",
            "New lines by source and role in their story: first (it broke the story) or joined",
            ["source", "role"],
            registry=r,
        )
        self.story_lag = Histogram(
            "ticker_story_lag_seconds",
            "How long after a story's first reporter this source reported it",
            ["source"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600),
            registry=r,
        )
        self.source_health = Gauge(
            "ticker_source_health", "1 for the source's current health state", ["source", "state"],
            registry=r,
        )  # fmt: skip
