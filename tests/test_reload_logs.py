"""Issue 14, "reload and logs that tell the truth": a changed endpoint on SIGHUP, URL labels,
apprise's own log lines, the item count of a 304 poll, and the permission warning.

Real parts only: ``ticker run`` / ``notify-test`` / ``once`` / ``outbox`` as subprocesses
against a real local page server and webhook sink; the endpoint asked over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import PageServer, en_page, run_ticker, write_config
from sinks import WebhookSink, free_port
from test_service import BASE, NEW, TickerProcess, baseline, service_toml, source_toml

from ticker.apprise_channels import AppriseNotifier, target_label
from ticker.config import load_config

TG_TOKEN = "987654321:AAHfakeTokenQwErTyUiOpAsDfGhJkLzXcVbN"
LABEL = re.compile(r"^[\w-]+\[\d+\] [a-z]+://\S+ #[0-9a-f]{4}$")


async def status_of(url: str, **headers: str) -> int | None:
    """The HTTP status at ``url``, or None when nothing answers there."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as resp,
        ):
            return resp.status
    except aiohttp.ClientConnectionError:
        return None


def endpoint_config(tmp_path: Path, page_url: str, listen: str, extra: str = "") -> Path:
    return write_config(
        tmp_path, service_toml(f'listen = "{listen}"\n{extra}') + source_toml("en", page_url)
    )


# -- SIGHUP and the endpoint ---------------------------------------------------------------------


async def test_sighup_with_a_changed_listen_moves_the_endpoint(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    old, new = free_port(), free_port()
    cfg = endpoint_config(tmp_path, page_server.url("/en"), f"127.0.0.1:{old}")
    tp = ticker_run(cfg)
    await baseline(tp)
    await tp.until(lambda: tp.events("service_started"), "the service to start")
    assert await status_of(f"http://127.0.0.1:{old}/healthz") == 200
    endpoint_config(tmp_path, page_server.url("/en"), f"127.0.0.1:{new}")
    tp.send(signal.SIGHUP)
    await tp.until(lambda: tp.events("endpoint_reloaded"), "the endpoint to move")
    [moved] = tp.events("endpoint_reloaded")
    assert (moved["listen"], moved["previous"]) == (f"127.0.0.1:{new}", f"127.0.0.1:{old}")
    assert moved["changed"] == ["listen"]
    assert await status_of(f"http://127.0.0.1:{new}/healthz") == 200
    assert await status_of(f"http://127.0.0.1:{old}/healthz") is None
    # Still polling, and the endpoint still answers after the move.
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await tp.until(lambda: NEW[0] in tp.texts(), "a new item after the reload")
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


async def test_sighup_with_a_new_token_and_hostname_applies_them_on_the_same_address(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    cfg = endpoint_config(tmp_path, page_server.url("/en"), f"127.0.0.1:{port}")
    tp = ticker_run(cfg)
    await tp.until(lambda: tp.events("service_started"), "the service to start")
    assert await status_of(url) == 200
    assert await status_of(url, Host=f"wall.example:{port}") == 421
    token = "reload-token-0123456789abcdef"
    endpoint_config(
        tmp_path,
        page_server.url("/en"),
        f"127.0.0.1:{port}",
        f'token = "{token}"\nhostnames = ["wall.example"]',
    )
    tp.send(signal.SIGHUP)
    await tp.until(lambda: tp.events("endpoint_reloaded"), "the endpoint to be rebuilt")
    assert tp.events("endpoint_reloaded")[0]["changed"] == ["token", "hostnames"]
    assert await status_of(url) == 401
    assert await status_of(url, Authorization=f"Bearer {token}") == 200
    assert await status_of(url, Authorization=f"Bearer {token}", Host=f"wall.example:{port}") == 200
    assert token not in tp.stderr
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


async def test_sighup_to_an_address_in_use_keeps_the_old_endpoint_and_says_why(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    old = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cfg = endpoint_config(tmp_path, page_server.url("/en"), f"127.0.0.1:{old}")
        tp = ticker_run(cfg)
        await tp.until(lambda: tp.events("service_started"), "the service to start")
        endpoint_config(tmp_path, page_server.url("/en"), f"127.0.0.1:{busy}")
        tp.send(signal.SIGHUP)
        await tp.until(lambda: tp.events("reload_listen_failed"), "the failed rebind")
        [failed] = tp.events("reload_listen_failed")
        assert failed["level"] == "error"
        assert failed["listen"] == f"127.0.0.1:{busy}"
        assert "in use" in failed["error"].lower(), failed
        assert f"127.0.0.1:{old}" in failed["note"]
        assert not tp.events("endpoint_reloaded")
        assert await status_of(f"http://127.0.0.1:{old}/healthz") == 200
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


# -- URL labels ----------------------------------------------------------------------------------


def test_labels_tell_apart_the_urls_of_a_channel_and_never_show_a_token() -> None:
    urls = (
        "json://127.0.0.1:8080/hook/a",
        "json://127.0.0.1:8080/hook/b",
        f"tgram://{TG_TOKEN}/-1001234567890",
        "mailtos://desk:hunter2pass@smtp.example.com?to=a@example.com",
    )
    labels = [target_label("desk", n, url) for n, url in enumerate(urls)]
    assert len(set(labels)) == 4
    for label in labels:
        assert LABEL.match(label), label
    assert labels[0].startswith("desk[0] json://127.0.0.1:8080 #")
    assert labels[1].startswith("desk[1] json://127.0.0.1:8080 #")
    assert labels[2].startswith("desk[2] tgram://*** #")
    assert labels[3].startswith("desk[3] mailtos://smtp.example.com #")
    for secret in (TG_TOKEN, "987654321", "AAHfake", "hunter2pass", "-1001234567890", "hook"):
        assert not any(secret in label for label in labels), secret
    # Stable: the same URL, the same label.
    assert target_label("desk", 2, urls[2]) == labels[2]


async def test_notify_test_outbox_and_delivery_logs_name_each_url_by_its_label(
    page_server: PageServer, tmp_path: Path
) -> None:
    with WebhookSink.in_thread() as sink:
        sink.set_status(500, path="/bad")
        urls = [sink.url("/good"), sink.url("/bad")]
        text = service_toml() + source_toml("en", page_server.url("/en"))
        text += f'\n[[channels]]\nid = "desk"\nurls = {json.dumps(urls)}\n'
        cfg = write_config(tmp_path, text)
        expected = [target_label("desk", n, url) for n, url in enumerate(urls)]
        assert expected[0] != expected[1]

        tested = await asyncio.to_thread(run_ticker, "notify-test", "-c", str(cfg))
        assert tested.returncode == 1, tested.stderr
        lines = tested.stdout.splitlines()
        assert lines[0] == f"{expected[0]}  ok"
        assert lines[1].startswith(f"{expected[1]}  FAILED: "), lines

        page_server.set("/en", en_page(BASE))
        first = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
        assert first.returncode == 0, first.stderr
        page_server.set("/en", en_page([NEW[0], *BASE]))
        second = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
        deliveries = [e for e in events(second.stderr) if e.get("event") == "delivery"]
        by_outcome = {e["outcome"]: e["target"] for e in deliveries}
        assert by_outcome["sent"] == expected[0], deliveries
        assert [t for o, t in by_outcome.items() if o != "sent"] == [expected[1]], deliveries

        listed = await asyncio.to_thread(run_ticker, "outbox", "-c", str(cfg))
        [row] = [line for line in listed.stdout.splitlines() if "pending" in line]
        assert expected[1] in row, listed.stdout


# -- apprise's own log lines ---------------------------------------------------------------------


def events(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


async def test_a_failed_delivery_is_one_event_ticker_s_with_apprise_s_reason(
    page_server: PageServer, tmp_path: Path
) -> None:
    dead = free_port()  # nothing listens: apprise logs a connection error of its own
    url = f"json://127.0.0.1:{dead}/hook"
    text = service_toml() + source_toml("en", page_server.url("/en"))
    text += f'\n[[channels]]\nid = "desk"\nurls = ["{url}"]\n'
    cfg = write_config(tmp_path, text)
    page_server.set("/en", en_page(BASE))
    first = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert first.returncode == 0, first.stderr
    page_server.set("/en", en_page([NEW[0], *BASE]))
    second = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert second.returncode == 1, second.stderr
    about = [
        line for line in second.stderr.splitlines() if "Connection error" in line or "cto=" in line
    ]
    assert len(about) == 1, about
    [event] = [e for e in events(second.stderr) if e.get("event") == "delivery"]
    assert event["outcome"] != "sent"
    assert "Connection error" in event["error"]
    assert "cto=" not in second.stderr
    assert "rto=" not in second.stderr
    # notify-test: the reason on stdout, no apprise line on stderr.
    tested = await asyncio.to_thread(run_ticker, "notify-test", "-c", str(cfg))
    assert "Connection error" in tested.stdout
    assert "Connection error" not in tested.stderr
    # Debugging asks for the library's lines: they are there, still redacted.
    debug = await asyncio.to_thread(
        run_ticker, "notify-test", "-c", str(cfg), "--log-level", "debug"
    )
    assert "Connection error" in debug.stderr


# -- a 304 poll ----------------------------------------------------------------------------------


async def test_a_304_poll_logs_the_lines_the_ticker_still_shows(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    body = en_page(BASE)

    async def etagged(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(text=body, content_type="text/html", headers={"ETag": '"v1"'})

    page_server.handlers["/en"] = etagged
    cfg = write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en")))
    tp = ticker_run(cfg)
    await baseline(tp)
    await tp.until(
        lambda: any(p["status"] == "not_modified" for p in tp.polls()), "a 304 poll", within=15
    )
    [first, *_] = [p for p in tp.polls() if p["status"] == "not_modified"]
    assert first["items"] == len(BASE), first
    assert await tp.stop() < 10


# -- the permission warning ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("json://127.0.0.1:8080", False),
        ("json://127.0.0.1:8080/notify", False),
        ("tgram://${BOT_TOKEN}/-1001234567890", False),
        ("mailtos://desk:${SMTP_PASS}@smtp.example.com", False),
        ("json://127.0.0.1:8080/bot${BOT_TOKEN}/sendMessage", False),
        (f"tgram://{TG_TOKEN}/-1001234567890", True),
        ("mailtos://desk:hunter2pass@smtp.example.com", True),
        ("json://127.0.0.1:8080/hook/s3cr3t-9f8e7d6c", True),
        ("json://hooks.example.com/notify?token=abc", True),
    ],
)
def test_the_permission_warning_fires_only_for_a_literal_secret(
    tmp_path: Path, url: str, warned: bool
) -> None:
    cfg = write_config(
        tmp_path,
        service_toml()
        + source_toml("en", "https://example.org/")
        + f'\n[[channels]]\nid = "desk"\nurls = ["{url}"]\n',
    )
    os.chmod(cfg, 0o644)
    env = {"BOT_TOKEN": TG_TOKEN, "SMTP_PASS": "x"}
    config = load_config(cfg, env=env)
    assert any("readable by other users" in w for w in config.warnings) is warned
    os.chmod(cfg, stat.S_IRUSR | stat.S_IWUSR)
    assert not load_config(cfg, env=env).warnings


def test_labels_match_the_notifier_targets() -> None:
    from ticker.config import ChannelConfig

    urls = ("json://127.0.0.1:8080/a", "json://127.0.0.1:8080/b")
    n = AppriseNotifier([ChannelConfig(id="desk", urls=urls)])
    assert [t.redacted for t in n.by_channel["desk"]] == [
        target_label("desk", 0, urls[0]),
        target_label("desk", 1, urls[1]),
    ]
