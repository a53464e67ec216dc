"""Drill 10 (no secret in a log): no secret in any output, at the most verbose log level, failures
included.

Channels carry a fake Telegram bot token, a Slack webhook path and an SMTP password, given as
``${VARS}`` from the environment: real ``tgram://`` and ``slack://`` URLs (their HTTPS goes to a
dead local proxy, so they fail without leaving the machine), two local webhooks whose paths hold
the token and the webhook path (one answers 500), and e-mail with a password the local SMTP
server cannot accept. ``once``, ``outbox``, ``notify-test``, ``run`` and ``outbox retry`` run
with ``--log-level debug``; every line of their stdout and stderr is searched for each secret.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .harness import (
    Feed,
    Tickers,
    channel_toml,
    query,
    service_toml,
    source_toml,
    timeout,
    write_config,
)
from .servers import PageServer, SmtpSink, free_port

pytestmark = pytest.mark.drill

BOT_TOKEN = "987654321:AAHfakeTokenQwErTyUiOpAsDfGhJkLzXcVbN"
HOOK_PATH = "T0FAKE123/B0FAKE456/ZxYwVuTsRqPoNmLkJiHgFeDc"
SMTP_PASS = "Sm7p-Pa55w0rd-Kappa-42"
SECRETS = {
    "bot token": BOT_TOKEN,
    "bot token (secret half)": BOT_TOKEN.split(":", 1)[1],
    "webhook path": HOOK_PATH,
    "webhook path (secret part)": HOOK_PATH.rsplit("/", 1)[1],
    "smtp password": SMTP_PASS,
}


def variants(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret, safe="/:")}


@timeout(150, 150)
def test_no_secret_reaches_any_output_at_debug_level(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    smtp: SmtpSink,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    hook, bot = sinks("hook"), sinks("bot")
    hook.status = 500  # a failing delivery: its error is logged, stored and listed
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    env = {
        "BOT_TOKEN": BOT_TOKEN,
        "HOOK_PATH": HOOK_PATH,
        "SMTP_PASS": SMTP_PASS,
        "HTTPS_PROXY": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "https_proxy": dead_proxy,
        "http_proxy": dead_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    feed = Feed("sc")
    calm = ["A calm line before the secrets drill"]
    pages.set_lines("/news", calm)
    cfg = write_config(
        tmp_path,
        service_toml(health_channels=["bot"], max_strikes=2, stop_timeout="3s"),
        source_toml("news", pages.url("/news")),
        channel_toml("tg", "tgram://${BOT_TOKEN}/-1001234567890"),
        channel_toml("slack", "slack://${HOOK_PATH}"),
        channel_toml("hook", f"json://127.0.0.1:{hook.port}/services/${{HOOK_PATH}}"),
        channel_toml("bot", f"json://127.0.0.1:{bot.port}/bot${{BOT_TOKEN}}/sendMessage"),
        channel_toml("mail", smtp.url(auth="desk:${SMTP_PASS}@")),
    )
    assert BOT_TOKEN not in cfg.read_text()
    debug = ("--log-level", "debug")

    def command(*args: str, within: float = 60) -> Any:
        return tickers.command(*args, "-c", str(cfg), *debug, env=env, within=within)

    baseline = command("once")
    assert baseline.proc.returncode == 0, baseline.tail()
    feed.add(2)
    pages.set_lines("/news", feed.shown() + calm)
    delivering = command("once", within=120)
    assert delivering.proc.returncode == 1  # deliveries left pending: channels failed
    command("outbox")  # lists the failing rows and their last errors
    tested = command("notify-test", within=90)
    assert tested.proc.returncode == 1
    run = tickers.start(cfg, *debug, env=env)
    run.wait_for(lambda: run.events("service_started"), "the service to start", 20)
    feed.add(1)
    pages.set_lines("/news", feed.shown() + calm)
    run.wait_for(
        lambda: len([e for e in run.events("delivery") if e.get("outcome") != "sent"]) >= 3,
        "failing deliveries in the service",
        30,
    )
    time.sleep(2)
    run.terminate()
    retry = command("outbox", "retry")
    assert retry.proc.returncode == 0

    output = tickers.all_output()
    lines = output.splitlines()
    leaks = {
        name: [ln[:200] for ln in lines if any(v in ln for v in variants(secret))]
        for name, secret in SECRETS.items()
    }
    stored = "\n".join(
        str(r) for r in query(tmp_path / "state.db", "SELECT last_error FROM deliveries")
    )
    figures.update(
        output_lines=len(lines),
        debug_lines=sum('"level": "debug"' in ln for ln in lines),
        failed_deliveries_logged=sum(
            1 for t in tickers.started for e in t.events("delivery") if e.get("outcome") != "sent"
        ),
        leaks={name: len(found) for name, found in leaks.items()},
        secrets_in_state_db=[
            n for n, s in SECRETS.items() if any(v in stored for v in variants(s))
        ],
    )
    assert figures["debug_lines"] > 0, "debug logging was not on"
    assert bot.delivered(), "the working channel received nothing"
    assert hook.failed(), "the failing channel was never tried"
    for name, found in leaks.items():
        assert found == [], f"{name} leaked in {len(found)} line(s): {found[:3]}"
