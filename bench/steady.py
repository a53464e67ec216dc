"""The steady limit as a process of its own: ``python -m bench.steady PORT TAG N INTERVAL``.

Polls ``live`` pages 0..N-1 (tagged ``TAG`` on the fixture server) every INTERVAL seconds with
:class:`bench.limit.SteadyLoop`, all of a pass at once (one loop turn serves many polls), until
SIGTERM. The service row runs it beside ``ticker run``, on the same pages in the same minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Sequence

import aiohttp

from bench.configs import CONCURRENCY
from bench.limit import SteadyLoop
from bench.server import FixtureClient


async def poll_forever(urls: Sequence[str], interval: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        steady = SteadyLoop(session)
        start, passes = time.monotonic(), 0
        while not stop.is_set():
            await asyncio.gather(*(steady.poll(u) for u in urls), return_exceptions=True)
            passes += 1
            delay = start + passes * interval - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)


def main(argv: Sequence[str] | None = None) -> int:
    port, tag, n, interval = (argv if argv is not None else sys.argv[1:])[:4]
    urls = FixtureClient(int(port)).urls("live", int(n), tag=tag)
    asyncio.run(poll_forever(urls, float(interval)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
