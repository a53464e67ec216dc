"""Run a measurement in a fresh interpreter, so its peak memory and warm-up are its own."""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def _entry(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_in_child(fn: Callable[..., Any], *args: Any, timeout: float = 3600) -> Any:
    """``fn(*args)`` in a spawned process; its return value must pickle. Raises RuntimeError
    with the child's traceback when it failed."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_entry, args=(child, fn, args))
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"{fn.__name__} did not finish within {timeout:g} s")
        status, value = parent.recv()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in its child process:\n{value}")
    return value
