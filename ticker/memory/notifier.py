"""RecordingNotifier: a ``Notifier`` for tests that records sends and fails the ones scripted."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ticker.model import SendResult


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryTarget:
    """One URL of a channel, as a ``RecordingNotifier`` knows it."""

    channel_id: str
    key: str
    redacted: str
    pacing: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Sent:
    """One send the notifier was asked for, and what it answered."""

    key: str
    title: str
    body: str
    result: SendResult
    at: float  # time.monotonic() when it was sent


class RecordingNotifier:
    """A ``Notifier`` for tests: records every send; scripted failures are answered first."""

    def __init__(self, targets: Iterable[MemoryTarget]) -> None:
        self.targets: dict[str, MemoryTarget] = {t.key: t for t in targets}
        self.calls: list[Sent] = []
        self._failures: dict[str, deque[SendResult]] = {}
        self._lock = threading.Lock()  # the sender sends from its threads

    @classmethod
    def for_channels(cls, *channel_ids: str) -> RecordingNotifier:
        """One target per channel, keyed ``<channel>-0``."""
        return cls(MemoryTarget(channel_id=c, key=f"{c}-0", redacted=f"{c}#0") for c in channel_ids)

    @property
    def by_channel(self) -> dict[str, list[tuple[str, str]]]:
        """Channel id -> (target key, label): what ``AlertPlanner`` is built with."""
        out: dict[str, list[tuple[str, str]]] = {}
        for t in self.targets.values():
            out.setdefault(t.channel_id, []).append((t.key, t.redacted))
        return out

    def fail(self, key: str, *results: SendResult) -> None:
        """Answer the next sends to ``key`` with these, then succeed again."""
        with self._lock:
            self._failures.setdefault(key, deque()).extend(results)

    @property
    def sent(self) -> list[Sent]:
        """The sends that succeeded."""
        with self._lock:
            return [c for c in self.calls if c.result.ok]

    def send(self, key: str, *, title: str, body: str) -> SendResult:
        with self._lock:
            queue = self._failures.get(key)
            if key not in self.targets:
                result = SendResult(ok=False, error="this channel URL is no longer configured")
            elif queue:
                result = queue.popleft()
            else:
                result = SendResult(ok=True)
            self.calls.append(
                Sent(key=key, title=title, body=body, result=result, at=time.monotonic())
            )
        return result
