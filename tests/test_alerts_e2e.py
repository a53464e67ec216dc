"""Alerts end to end, as a user runs them: ``python -m ticker`` subprocesses against a real local
page server, a webhook sink and an SMTP server (both in threads of their own).

Subprocesses run through ``asyncio.to_thread`` so the event loop serving the pages stays free.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from conftest import AR_PAGE, PageServer, en_page, run_ticker, write_config
from sinks import SmtpServer, WebhookSink, async_wait_for

BASE = [
    "Gaza Ministry of Health: We renew our urgent appeal to protect healthcare institutions",
    "Palestinian sources: Several displaced Palestinians injured west of Rafah",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
]
ADDED = "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the fence"
HOSTILE = 'Officials say <b>"no deal"</b> & talks resume *now* _today_'
AR_ADDED = "عاجل: غارة إسرائيلية على الضاحية الجنوبية"
SECRET = "s3cr3t-Hook-Token-9f8e7d6c"


def config(
    tmp_path: Path, page_url: str, channels: dict[str, list[str]], service: str = ""
) -> Path:
    text = f'[service]\nstate = "state.db"\n{service}\n'
    text += (
        f'[[sources]]\nid = "en"\nname = "Al Mayadeen English"\nurl = "{page_url}"\n'
        'items = "css:.ticker__item"\n'
    )
    for cid, urls in channels.items():
        text += f"\n[[channels]]\nid = {json.dumps(cid)}\nurls = {json.dumps(urls)}\n"
    return write_config(tmp_path, text)


async def ticker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_ticker, *args, "--log-format", "json", env=env)


def page(lines: list[str]) -> str:
    """The English page showing ``lines`` (text, escaped into the HTML as a page would)."""
    return en_page([html.escape(line, quote=False) for line in lines])


async def baseline(page_server: PageServer, cfg: Path, lines: list[str] = BASE) -> None:
    page_server.set("/en", page(lines))
    first = await ticker("once", "-c", str(cfg))
    assert first.returncode == 0, first.stderr


# -- notify-test ---------------------------------------------------------------------------------


async def test_notify_test_reports_each_url_and_fails_when_one_fails(tmp_path: Path) -> None:
    with WebhookSink.in_thread() as sink:
        sink.set_status(500, path="/bad")
        cfg = config(
            tmp_path,
            "https://example.org/",
            {"desk": [sink.url("/good")], "ops": [sink.url("/bad")]},
        )
        result = await ticker("notify-test", "-c", str(cfg))
        assert result.returncode == 1, result.stderr
        lines = result.stdout.splitlines()
        assert re.fullmatch(
            rf"desk\[0\] json://127\.0\.0\.1:{sink.port} #[0-9a-f]{{4}}  ok", lines[0]
        )
        assert re.match(
            rf"ops\[0\] json://127\.0\.0\.1:{sink.port} #[0-9a-f]{{4}}  FAILED: ", lines[1]
        )
        assert "500" in lines[1]
        [hit] = sink.delivered("/good")
        assert hit.title == "ticker test message"
        assert "desk" in hit.message

        only = await ticker("notify-test", "-c", str(cfg), "desk")
        assert only.returncode == 0, only.stderr
        assert only.stdout.splitlines() == lines[:1]
        assert len(sink.hits("/bad")) == 1


# -- once: new items, exactly once -----------------------------------------------------------------


async def test_a_new_line_reaches_the_channel_once_with_its_text_and_source_name(
    page_server: PageServer, tmp_path: Path
) -> None:
    with WebhookSink.in_thread() as sink:
        cfg = config(tmp_path, page_server.url("/en"), {"desk": [sink.url("/desk")]})
        await baseline(page_server, cfg)
        assert sink.hits() == []  # the first poll is a baseline: nothing sent

        page_server.set("/en", page([HOSTILE, *BASE]))
        result = await ticker("once", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""  # with channels, items go to them, not to stdout
        [hit] = sink.hits()
        assert hit.status == 200
        assert hit.title == "Al Mayadeen English"
        assert hit.message.splitlines()[0] == HOSTILE

        page_server.set("/en", page([ADDED, *BASE]))  # the hostile line scrolls away, one comes
        again = await ticker("once", "-c", str(cfg))
        assert again.returncode == 0, again.stderr
        assert [h.message.splitlines()[0] for h in sink.hits()] == [HOSTILE, ADDED]


async def test_a_burst_of_new_lines_travels_as_one_digest(
    page_server: PageServer, tmp_path: Path
) -> None:
    burst = [f"Line {n}: {HOSTILE}" for n in range(8)]
    with WebhookSink.in_thread() as sink:
        cfg = config(
            tmp_path, page_server.url("/en"), {"desk": [sink.url("/desk")]}, service="burst = 5"
        )
        await baseline(page_server, cfg)
        page_server.set("/en", page([*burst, *BASE]))
        result = await ticker("once", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        [hit] = sink.hits()
        assert hit.status == 200
        assert hit.title == "Al Mayadeen English: 8 new items"
        for line in burst:
            assert line in hit.message


async def test_email_carries_an_arabic_page_intact(page_server: PageServer, tmp_path: Path) -> None:
    body = AR_PAGE.read_text("utf-8")
    page_server.set("/ar", body)
    with SmtpServer() as smtp:
        cfg = write_config(
            tmp_path,
            '[service]\nstate = "state.db"\n\n[[sources]]\nprofile = "almayadeen-ar"\n'
            f'url = "{page_server.url("/ar")}"\n\n'
            f'[[channels]]\nid = "mail"\nurls = ["{smtp.url()}"]\n',
        )
        first = await ticker("once", "-c", str(cfg))
        assert first.returncode == 0, first.stderr
        added = (
            '<li><div class="ticker-item"><div class="ticker-text"><a href="/news/urgent/9">'
            f"<p>{AR_ADDED}</p></a></div></div></li>"
        )
        page_server.set("/ar", body.replace("<ul>\n", "<ul>\n" + added, 1))
        result = await ticker("once", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
    [mail] = smtp.messages
    assert mail.subject == "الميادين"
    lines = mail.body.splitlines()
    assert lines[0] == AR_ADDED
    assert page_server.url("/news/urgent/9") in lines


# -- a channel that fails ----------------------------------------------------------------------


async def test_a_channel_down_keeps_the_alert_and_delivers_it_once_after_recovery(
    page_server: PageServer, tmp_path: Path
) -> None:
    """Also 'no secret in a log': the webhook's path holds a token (from ${HOOK_SECRET}); no output
    of any command shows it, at debug level, whether the channel works or fails."""
    env = {"HOOK_SECRET": SECRET}
    outputs: list[str] = []

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = await ticker(*args, "-c", str(cfg), "--log-level", "debug", env=env)
        outputs.append(result.stdout + result.stderr)
        return result

    with WebhookSink.in_thread() as sink:
        hook = f"json://127.0.0.1:{sink.port}/hook/${{HOOK_SECRET}}"
        cfg = config(tmp_path, page_server.url("/en"), {"desk": [hook]})
        assert (await run("notify-test")).returncode == 0
        page_server.set("/en", page(BASE))
        assert (await run("once")).returncode == 0

        sink.set_status(500)
        page_server.set("/en", page([ADDED, *BASE]))
        down = await run("once")
        assert down.returncode == 1
        assert "1 deliver(ies) still pending" in down.stderr
        assert len(sink.hits()) == 2  # the test message, then one attempt left for the next run

        listed = await run("outbox")
        assert listed.returncode == 0, listed.stderr
        [row] = [line for line in listed.stdout.splitlines() if "pending" in line]
        assert "desk" in row
        assert re.search(r"desk\[0\] json://127\.0\.0\.1:\d+ #[0-9a-f]{4}", row)
        assert ADDED in row

        sink.set_status(200)
        retry = await run("outbox", "retry")  # due now, not at the end of its backoff
        assert retry.stdout.strip() == "requeued 1 pending deliver(ies)"
        up = await run("once")
        assert up.returncode == 0, up.stderr
        assert "outbox is empty" in (await run("outbox")).stdout
        delivered = sink.delivered(f"/hook/{SECRET}")  # the secret URL was the one used
    assert [h.message.splitlines()[0] for h in delivered] == [
        "This is a test of channel 'desk' from ticker, sent "
        + delivered[0].message.split("sent ", 1)[1],
        ADDED,
    ]
    assert any('"level": "debug"' in out for out in outputs)  # debug logging was on
    for output in outputs:
        assert SECRET not in output
        assert SECRET.lower() not in output.lower()


async def test_a_given_up_alert_is_reported_and_can_be_retried(
    page_server: PageServer, tmp_path: Path
) -> None:
    with WebhookSink.in_thread() as sink:
        sink.set_status(500, path="/desk")
        cfg = config(
            tmp_path,
            page_server.url("/en"),
            {"desk": [sink.url("/desk")], "ops": [sink.url("/ops")]},
            service='give_up_after = "3s"\nhealth_channels = ["ops"]',
        )
        with cfg.open("a", encoding="utf-8") as f:
            f.write('\n[[routes]]\nchannels = ["desk"]\n')
        await baseline(page_server, cfg)
        page_server.set("/en", page([ADDED, *BASE]))
        assert (await ticker("once", "-c", str(cfg))).returncode == 1
        await asyncio.sleep(3.1)  # the alert, queued during that run, is now older than 3 s
        expired = await ticker("once", "-c", str(cfg))
        assert "delivery_dead" in expired.stderr
        [health] = sink.delivered("/ops")  # the health alert goes out in the same run
        assert "given up" in health.title
        assert ADDED in health.message

        listed = await ticker("outbox", "-c", str(cfg))
        [row] = [line for line in listed.stdout.splitlines() if ADDED in line]
        assert "dead" in row

        sink.set_status(200, path="/desk")
        retry = await ticker("outbox", "-c", str(cfg), "retry", "--dead")
        assert retry.returncode == 0, retry.stderr
        assert retry.stdout.strip() == "requeued 1 dead deliver(ies)"
        again = await ticker("once", "-c", str(cfg))
        assert again.returncode == 0, again.stderr
        assert [h.message.splitlines()[0] for h in sink.delivered("/desk")] == [ADDED]


# -- a crash between recording and delivering ------------------------------------------------------


async def test_killed_while_sending_the_next_run_delivers_exactly_once(
    page_server: PageServer, tmp_path: Path
) -> None:
    with WebhookSink.in_thread() as sink:
        cfg = config(tmp_path, page_server.url("/en"), {"desk": [sink.url("/desk")]})
        await baseline(page_server, cfg)
        page_server.set("/en", page([ADDED, *BASE]))
        sink.set_hang(True)
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "ticker", "once", "-c", str(cfg), "--log-format", "json"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # the item is recorded and its send is in flight: the sink holds the request
            assert await async_wait_for(lambda: len(sink.hits()) == 1, within=20)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert proc.returncode == -signal.SIGKILL
        sink.set_hang(False)

        result = await ticker("once", "-c", str(cfg))
        assert result.returncode == 0, result.stderr
        assert [h.message.splitlines()[0] for h in sink.delivered()] == [ADDED]
        assert len(sink.hits()) == 2  # the one cut off by the kill, and the one delivered
