"""Drill 6 (disk full): the state directory's disk fills up while lines keep appearing.

The state lives on a small tmpfs that the test mounts (CI runs as root; the drill is skipped with
the reason when the mount is refused). With the disk full, ticker says so (``storage_failing``,
naming the file), stays alive, tells the health channel directly (the outbox is on the full disk),
and alerts nothing it could not record; the source itself is not called failing (its page is
fine). Once space is freed it records the lines that appeared meanwhile and delivers them:
nothing lost. The disk fills while a send is in flight (the sinks take 0.3 s to answer), so that
send's success cannot be recorded: it may arrive twice (bounded duplicates), not again and again
while the disk stays full.
"""

from __future__ import annotations

import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Feed,
    Tickers,
    channel_toml,
    integrity,
    pick,
    service_toml,
    source_toml,
    tally,
    timeout,
    write_config,
)
from .servers import PageServer

pytestmark = pytest.mark.drill

SIZE = "2m"
CYCLES = pick(1, 3)
FULL_FOR = pick(3.0, 30.0)
SINK_DELAY = 0.3


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs; requested before ``tickers`` so the processes die before the unmount."""
    mnt = tmp_path / "statedisk"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs for the disk-full drill (needs root or CAP_SYS_ADMIN): "
            f"{(res.stderr or res.stdout).strip()}"
        )
    try:
        yield mnt
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mnt)], capture_output=True, check=False).returncode:
                time.sleep(0.25)
            else:
                break
        else:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; the filler's path."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    fh.write(chunk[:size])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler


@timeout(120, 900)
def test_a_full_disk_is_reported_survived_and_loses_nothing(
    tmp_path: Path,
    small_disk: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk, ops = sinks("desk"), sinks("ops")
    desk.delay = ops.delay = SINK_DELAY
    feed = Feed("df")
    calm = ["A calm line shown before the disk filled up"]
    pages.set_lines("/news", calm)
    state = small_disk / "state.db"
    cfg = write_config(
        tmp_path,
        # failing_after = 2: a source would be called failing within the outage if the
        # storage's trouble were (wrongly) counted as the source's.
        service_toml(state=str(state), health_channels=["ops"], failing_after=2),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk")),
        channel_toml("ops", ops.url("/ops")),
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")
    pattern = feed.pattern()

    def show(count: int) -> None:
        feed.add(count)
        pages.set_lines("/news", feed.shown() + calm)

    def delivered(sink: Any) -> Any:
        return tally([(h.title, h.message) for h in sink.delivered()], pattern)

    show(1)  # a normal start: a line delivered before any trouble
    t.wait_for(lambda: not delivered(desk).missing(feed.tokens()), "the first line", 10)
    lag_to_alert: list[float] = []
    recovery: list[float] = []
    for cycle in range(1, CYCLES + 1):
        show(2)  # the disk fills while these are being sent
        t.wait_for(lambda: desk.in_flight or ops.in_flight, "a send in flight", 10, 0.002)
        filler = fill(small_disk)
        full_at = time.monotonic()
        before = len(feed.tokens())
        show(3)  # lines that appear while nothing can be recorded
        failing = len(t.events("storage_failing"))
        t.wait_for(lambda n=failing: len(t.events("storage_failing")) > n, "storage_failing", 15)
        t.wait_for(
            lambda c=cycle: len([h for h in ops.delivered() if "cannot write" in h.title]) >= c,
            "the health alert about the state",
            15,
        )
        lag_to_alert.append(round(time.monotonic() - full_at, 1))
        time.sleep(FULL_FOR)
        assert t.alive(), "ticker died of a full disk\n" + t.tail()
        during = delivered(desk)
        assert all(during.counts[tok] == 0 for tok in feed.tokens()[before:]), (
            "a line was alerted although it could not be recorded"
        )
        filler.unlink()
        freed = time.monotonic()
        recovered = len(t.events("storage_recovered"))
        t.wait_for(
            lambda n=recovered: len(t.events("storage_recovered")) > n,
            "storage_recovered",
            15,
        )
        t.wait_for(
            lambda: not delivered(desk).missing(feed.tokens()),
            "the lines that appeared while the disk was full",
            15,
        )
        recovery.append(round(time.monotonic() - freed, 1))
        show(2)  # and business as usual
        t.wait_for(lambda: not delivered(desk).missing(feed.tokens()), "new lines", 10)

    t.wait_for(lambda: not delivered(ops).missing(feed.tokens()), "every line on ops", 10)
    assert t.terminate() < 10
    assert t.proc.returncode == 0, t.tail()

    [first] = t.events("storage_failing")[:1]
    figures.update(
        tmpfs=SIZE,
        cycles=CYCLES,
        lines=len(feed.tokens()),
        storage_failing=first.get("error"),
        full_to_health_alert_s=lag_to_alert,
        freed_to_delivered_s=recovery,
        outbox_write_failed=len(t.events("outbox_write_failed")),
        duplicates={s.name: delivered(s).duplicates for s in (desk, ops)},
        health_titles=sorted({h.title for h in ops.delivered() if "ticker:" in h.title}),
        source_health_transitions=[
            (e.get("source"), e.get("state")) for e in t.events("source_health")
        ],
    )
    assert first["level"] == "error"
    assert str(state) in first["state"]
    assert "full" in first["error"], first
    alert = next(h for h in ops.delivered() if "cannot write" in h.title)
    assert str(state) in alert.message
    assert [h for h in ops.delivered() if "writable again" in h.title]
    for sink in (desk, ops):
        got = delivered(sink)
        assert got.missing(feed.tokens()) == [], sink.name
        # A send whose success could not be recorded may arrive once more, not once a tick.
        assert got.max_copies <= 1 + CYCLES, (
            f"{sink.name}: a message was sent {got.max_copies} times while the disk was full"
        )
    assert "Traceback" not in t.stderr
    # The page was fine all along: the storage failed, not the source. No "Source news is
    # failing" (which could not even be queued) and no orphan "is OK again" afterwards.
    assert not t.events("source_health"), [
        (e.get("state"), e.get("reason", "")[:80]) for e in t.events("source_health")
    ]
    assert not [h.title for h in ops.delivered() if "Source news is" in h.title]
    assert integrity(state) == "ok"
