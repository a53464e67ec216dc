"""Drill 9 (page text is data, length caps, control characters removed): ticker lines written to
hurt the channels they are sent to.

Markup, entities, Markdown, Slack mentions and a 10,000-character line must arrive verbatim and
inert: through the real ``ticker once`` to a webhook (JSON) and to e-mail (a real aiosmtpd, a
text/plain mail); and, since Telegram and Slack are out of reach, through ticker's own renderer
and ``AppriseNotifier`` with the HTTP requests intercepted (``responses``): Telegram in HTML
with ``&lt;``/``&amp;``, split under 4,096 characters; Slack with ``mrkdwn`` off and ``<``, ``>``,
``&`` escaped.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from ticker.alerting.messages import render
from ticker.alerting.routing import AlertItem, Planned
from ticker.apprise_channels import AppriseNotifier
from ticker.config import ChannelConfig

from .harness import Tickers, channel_toml, service_toml, source_toml, timeout, write_config
from .servers import PageServer, SmtpSink

pytestmark = pytest.mark.drill

LONG_LINE = ("Long line <b>&amp; *now* _x_ " + "x" * 40 + " ") * 250
LONG_LINE = LONG_LINE[:10_000].rstrip()
HOSTILE = [
    "Markup: <b>bold</b> and <script>alert(1)</script> in the line",
    "Entities: AT&T & Johnson &amp; Johnson &lt;not a tag&gt;",
    "Markdown: *now* and _x_ and `code` and ~strike~",
    "Link: [x](http://evil.example/phish) click me",
    "Slack: <!channel> <!here> <@U1> <http://evil.example|innocent>",
    LONG_LINE,
]
CAP = 1000  # route.MAX_ITEM_CHARS / extract.MAX_CHARS: an item's text is cut here (length caps)

TOKEN = "123456789:AAFakeBotTokenAbCdEfGhIjKlMnOpQrStUvW"
CHAT = "-1001234567890"
SLACK = ("T0FAKEAAA", "B0FAKEBBB", "AbCdEfGhIjKlMnOpQrStUvWx")
TG_API = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
SLACK_HOOK = "https://hooks.slack.com/services/" + "/".join(SLACK)
ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


def capped(line: str) -> str:
    """What an item carries of a line: the line, or its first 999 characters and "…"."""
    return line if len(line) <= CAP else line[: CAP - 1].rstrip() + "…"


# -- through the real ticker: webhook and e-mail ---------------------------------------------


@timeout(90, 90)
def test_hostile_lines_arrive_verbatim_and_inert_by_webhook_and_email(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    smtp: SmtpSink,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk = sinks("desk")
    calm = ["A calm line before the hostile ones"]
    pages.set_lines("/news", calm)
    cfg = write_config(
        tmp_path,
        service_toml(burst=50),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk")),
        channel_toml("mail", smtp.url(), min_interval="0.1s"),
    )
    first = tickers.command("once", "-c", str(cfg))
    assert first.proc.returncode == 0, first.tail()
    pages.set_lines("/news", [*HOSTILE, *calm])
    second = tickers.command("once", "-c", str(cfg), within=90)
    assert second.proc.returncode == 0, second.tail()

    webhook = {h.message.splitlines()[0]: h for h in desk.delivered()}
    mails = {m.text.splitlines()[0]: m for m in smtp.mails}
    figures.update(
        webhook_messages=len(desk.delivered()),
        mails=len(smtp.mails),
        mail_content_types=sorted({t for m in smtp.mails for t in m.content_types}),
        long_line_chars_sent=len(next((k for k in webhook if k.startswith("Long")), "")),
    )
    assert len(desk.delivered()) == len(HOSTILE)
    assert len(smtp.mails) == len(HOSTILE)
    for line in HOSTILE:
        expected = capped(line)
        # The webhook's JSON carries the text as a string, character for character.
        assert expected in webhook, (expected[:60], list(webhook)[:3])
        assert webhook[expected].title == "Source news"
        # The mail is plain text: nothing in it is markup, and it reads exactly as the line.
        assert expected in mails, (expected[:60], list(mails)[:3])
        mail = mails[expected]
        assert mail.subject == "Source news"
        assert "text/html" not in mail.content_types, mail.content_types
        assert mail.html is None
    long_sent = capped(LONG_LINE)
    assert len(long_sent) <= CAP
    assert LONG_LINE.startswith(long_sent[:-1])


# -- Telegram and Slack, intercepted at the HTTP layer ---------------------------------------


def item(text: str, n: int = 1) -> AlertItem:
    return AlertItem(
        item_id=n,
        source_id="news",
        source_name="News <b>&</b>",
        text=text,
        link="https://example.com/a?x=1&y=<2>",
        first_seen=datetime(2026, 11, 27, 10, 52, tzinfo=UTC),
    )


@pytest.fixture
def notifier() -> AppriseNotifier:
    return AppriseNotifier(
        [
            ChannelConfig(id="tg", urls=(f"tgram://{TOKEN}/{CHAT}",)),
            ChannelConfig(id="slack", urls=("slack://" + "/".join(SLACK),)),
        ]
    )


def send(notifier: AppriseNotifier, channel: str, title: str, body: str) -> list[dict[str, Any]]:
    """Send through ticker's notifier; the JSON payloads that would have left the machine."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, TG_API, json={"ok": True, "result": {}})
        rsps.add(responses.POST, SLACK_HOOK, body="ok")
        [target] = notifier.by_channel[channel]
        result = notifier.send(target.key, title=title, body=body)
        assert result.ok, result
        return [json.loads(call.request.body) for call in rsps.calls]


@timeout(60, 60)
@pytest.mark.parametrize("line", HOSTILE[:-1], ids=["markup", "entities", "md", "link", "slack"])
def test_a_hostile_line_is_escaped_for_telegram_and_slack(
    notifier: AppriseNotifier, line: str
) -> None:
    message = render(Planned(channel_id="tg", items=(item(line),)))
    [tg] = send(notifier, "tg", message.title, message.body)
    assert tg["parse_mode"] == "HTML"
    assert tg["chat_id"] == int(CHAT)
    # apprise's own markup is the bold title; everything else is our text, escaped.
    title, _, text = tg["text"].partition("\r\n")
    assert title == f"<b>{html.escape(message.title, quote=False)}</b>", title
    assert "<" not in text, text  # every bracket of the line escaped
    assert ">" not in text, text
    assert not ENTITY.search(text), text  # every & is an entity
    assert html.unescape(text) == message.body.replace("\n", "\r\n")
    assert line in html.unescape(text)
    assert tg.get("disable_web_page_preview", True)

    [slack] = send(notifier, "slack", message.title, message.body)
    blob = json.dumps(slack, ensure_ascii=False)
    assert slack.get("mrkdwn") is False
    for raw in ("<!channel>", "<!here>", "<@U1>", "<http://evil", "<b>", "<script>"):
        assert raw not in blob, raw
    [attachment] = slack["attachments"]
    text = attachment["text"]
    assert "<" not in text
    assert ">" not in text
    assert _slack_unescape(text).startswith(line), text


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@timeout(60, 60)
def test_ten_thousand_characters_are_split_for_telegram_and_escaped_for_slack(
    notifier: AppriseNotifier, figures: dict[str, Any]
) -> None:
    # A digest of long hostile items is the realistic way to 10,000 characters; the line
    # itself is sent whole as a body too.
    digest = render(
        Planned(
            channel_id="tg",
            items=tuple(item(capped(LONG_LINE), n) for n in range(12)),
            digest=True,
            total=12,
        )
    )
    for body in (LONG_LINE, digest.body):
        assert len(body) >= 10_000
        payloads = send(notifier, "tg", "Title", body)
        chunks = [p["text"] for p in payloads[1:]]  # the first message is the title
        assert len(chunks) >= 3
        for chunk in chunks:
            assert len(html.unescape(chunk)) <= 4096
            assert not ENTITY.search(chunk), chunk[-20:]
            assert "<" not in chunk
        joined = html.unescape("".join(chunks))
        # Nothing lost at the seams but whitespace.
        assert "".join(joined.split()) == "".join(body.split())
        figures[f"telegram_{len(body)}_chars"] = {
            "messages": len(payloads),
            "chunk_chars": [len(c) for c in chunks],
        }
    [slack] = send(notifier, "slack", "Title", LONG_LINE)
    text = slack["attachments"][0]["text"]
    figures["slack_chars_of_10000"] = len(text)
    assert len(text) < len(LONG_LINE) * 1.5
    assert not re.search(r"<[^&]", text)
