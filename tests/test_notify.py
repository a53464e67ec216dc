"""The apprise notifier (ticker.apprise_channels): the exact requests Telegram and Slack get
(intercepted with ``responses`` at the requests layer), e-mail through a real local SMTP server,
a JSON webhook to a real local sink, URL tuning and redaction."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from sinks import SmtpServer, WebhookSink

from ticker.alerting.messages import render
from ticker.alerting.routing import AlertItem, Planned
from ticker.apprise_channels import AppriseNotifier, target_label, tune_url, url_key
from ticker.config import parse_config
from ticker.log import Redactor
from ticker.model import SendResult

TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TG_CHAT = "-1001234567890"
SLACK = "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
HOSTILE = 'Officials say <b>"no deal"</b> & talks resume *now* _today_'
INJECTIONS = "<!channel> <@U1> [x](http://evil)"
ARABIC = "عاجل: غارة إسرائيلية على الضاحية الجنوبية لبيروت"
TG_API = re.compile(r"https://api\.telegram\.org/.*")
SLACK_API = re.compile(r"https://hooks\.slack\.com/.*")


def notifier(tmp_path: Path, *urls: str, timeout: float = 10.0) -> AppriseNotifier:
    channels = "".join(
        f'[[channels]]\nid = "c{n}"\nurls = [{json.dumps(url)}]\n' for n, url in enumerate(urls)
    )
    cfg = parse_config(
        '[service]\nstate = "s.db"\n[[sources]]\nid = "en"\nurl = "https://example.org/"\n'
        'items = "css:li"\n' + channels,
        path=tmp_path / "t.toml",
        env={},
    )
    return AppriseNotifier(cfg.channels, timeout=timeout)


def only_key(n: AppriseNotifier) -> str:
    [key] = n.targets
    return key


def message(text: str = f"{HOSTILE} {INJECTIONS}") -> tuple[str, str]:
    item = AlertItem(
        item_id=1,
        source_id="en",
        source_name="Al Mayadeen English",
        text=text,
        link="https://english.almayadeen.net/news/1?a=1&b=2",
        first_seen=datetime(2026, 11, 27, 10, 52, tzinfo=UTC),
    )
    m = render(Planned(channel_id="c0", items=(item,)))
    return m.title, m.body


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def bodies(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in mock.calls]  # type: ignore[arg-type]


# -- Telegram --------------------------------------------------------------------------------


def test_telegram_gets_the_token_chat_and_html_parse_mode(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    http.add(responses.POST, TG_API, json={"ok": True})
    n = notifier(tmp_path, f"tgram://{TG_TOKEN}/{TG_CHAT}")
    title, body = message()
    assert n.send(only_key(n), title=title, body=body) == SendResult(ok=True)
    [call] = http.calls
    assert call.request.url == f"https://api.telegram.org/bot{TG_TOKEN}/sendMessage"
    [payload] = bodies(http)
    assert str(payload["chat_id"]) == TG_CHAT
    assert payload["parse_mode"] == "HTML"


def test_telegram_shows_a_hostile_line_verbatim(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    """Telegram parses the text as HTML: every <, > and & of the page is escaped, so the only
    markup is apprise's bold title, and Markdown or Slack syntax stays literal text."""
    http.add(responses.POST, TG_API, json={"ok": True})
    n = notifier(tmp_path, f"tgram://{TG_TOKEN}/{TG_CHAT}")
    title, body = message()
    n.send(only_key(n), title=title, body=body)
    [payload] = bodies(http)
    text = payload["text"]
    head, _, rest = text.partition("\n")
    assert head.rstrip("\r") == "<b>Al Mayadeen English</b>"
    assert "<" not in rest  # no tag of the page's survives as markup
    assert ">" not in rest
    assert html.escape(HOSTILE, quote=False) in rest
    assert "&lt;!channel&gt; &lt;@U1&gt; [x](http://evil)" in rest
    shown = html.unescape(rest).replace("\r\n", "\n")
    assert shown == body  # what the reader sees: the page's text exactly
    assert "entities" not in payload


def test_telegram_splits_a_long_message_losing_nothing(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    http.add(responses.POST, TG_API, json={"ok": True})
    n = notifier(tmp_path, f"tgram://{TG_TOKEN}/{TG_CHAT}")
    body = " ".join(f"w{i:04d}&<" for i in range(1500))[:10_000]
    assert len(body) == 10_000
    assert n.send(only_key(n), title="Al Mayadeen English", body=body).ok
    texts = [p["text"] for p in bodies(http)]
    assert len(texts) >= 3
    assert all(len(t) <= 4096 for t in texts)
    assert all(len(html.unescape(t)) <= 4096 for t in texts)
    shown = "".join(html.unescape(t) for t in texts)
    squeeze = re.compile(r"\s+")
    assert squeeze.sub("", body) in squeeze.sub("", shown)
    # no HTML entity is cut in two at a chunk boundary (Telegram would reject the chunk)
    assert all(html.unescape(t).count("&") == t.count("&amp;") for t in texts)


def test_a_telegram_rejection_is_a_failed_send_with_its_status(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    http.add(
        responses.POST,
        TG_API,
        json={"ok": False, "description": "Bad Request: can't parse entities"},
        status=400,
    )
    n = notifier(tmp_path, f"tgram://{TG_TOKEN}/{TG_CHAT}")
    result = n.send(only_key(n), title="t", body="b")
    assert not result.ok
    assert result.status == 400
    assert result.error
    assert TG_TOKEN not in result.error


# -- Slack -----------------------------------------------------------------------------------


def test_slack_webhook_payload_is_plain_text_that_pings_no_one(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    http.add(responses.POST, SLACK_API, body="ok")
    n = notifier(tmp_path, f"slack://{SLACK}")
    title, body = message()
    assert n.send(only_key(n), title=title, body=body).ok
    [call] = http.calls
    assert call.request.url == f"https://hooks.slack.com/services/{SLACK}"
    [payload] = bodies(http)
    assert payload["mrkdwn"] is False
    [attachment] = payload["attachments"]
    assert attachment["title"] == "Al Mayadeen English"
    assert "mrkdwn_in" not in attachment
    escaped = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert attachment["text"] == escaped
    raw = json.dumps(payload)
    for live in ("<!channel>", "<@U1>", "<b>"):
        assert live not in raw
    assert "icon_url" not in payload  # image=no


def test_slack_server_error_is_a_failed_send_with_its_status(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    http.add(responses.POST, SLACK_API, body="internal", status=500)
    n = notifier(tmp_path, f"slack://{SLACK}")
    result = n.send(only_key(n), title="t", body="b")
    assert not result.ok
    assert result.status == 500


def test_slack_channel_in_the_url_survives_tuning(
    tmp_path: Path, http: responses.RequestsMock
) -> None:
    """apprise's documented form slack://A/B/C/#channel names the channel to post in; ticker's
    added parameters must not turn it into a URL fragment that apprise then drops."""
    http.add(responses.POST, SLACK_API, body="ok")
    n = notifier(tmp_path, f"slack://{SLACK}/#newsdesk")
    assert n.send(only_key(n), title="t", body="b").ok
    [payload] = bodies(http)
    assert payload.get("channel") == "#newsdesk"


# -- e-mail through a real SMTP server --------------------------------------------------------


async def test_email_arrives_with_subject_and_verbatim_body(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        n = notifier(tmp_path, smtp.url())
        title, body = message(f"{HOSTILE} {INJECTIONS} {ARABIC}")
        result = await asyncio.to_thread(n.send, only_key(n), title=title, body=body)
        assert result.ok, result.error
    [mail] = smtp.messages
    assert mail.subject == "Al Mayadeen English"
    assert mail.rcpt_tos == ("desk@example.com",)
    assert HOSTILE in mail.body
    assert INJECTIONS in mail.body
    assert ARABIC in mail.body
    assert "https://english.almayadeen.net/news/1?a=1&b=2" in mail.body


async def test_email_subject_in_arabic_is_intact(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        n = notifier(tmp_path, smtp.url())
        result = await asyncio.to_thread(n.send, only_key(n), title="الميادين", body=ARABIC)
        assert result.ok, result.error
    [mail] = smtp.messages
    assert mail.subject == "الميادين"
    assert mail.body.strip() == ARABIC


# -- JSON webhook to a real sink ---------------------------------------------------------------


async def test_webhook_gets_title_and_body(tmp_path: Path) -> None:
    async with WebhookSink() as sink:
        n = notifier(tmp_path, sink.url("/hook"))
        title, body = message()
        result = await asyncio.to_thread(n.send, only_key(n), title=title, body=body)
    assert result.ok
    [hit] = sink.delivered()
    assert (hit.title, hit.message) == (title, body)


async def test_a_webhook_server_error_is_a_failed_send_with_its_status(tmp_path: Path) -> None:
    async with WebhookSink(status=500) as sink:
        n = notifier(tmp_path, sink.url("/hook"))
        result = await asyncio.to_thread(n.send, only_key(n), title="t", body="b")
    assert not result.ok
    assert result.status == 500
    assert len(sink.hits()) == 1  # no hidden retries inside apprise


def test_send_to_an_unknown_key_fails_without_raising(tmp_path: Path) -> None:
    n = notifier(tmp_path, "json://127.0.0.1:9/hook")
    result = n.send("0123456789abcdef", title="t", body="b")
    assert not result.ok
    assert result.error


# -- tune_url ----------------------------------------------------------------------------------


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_tune_url_pins_telegram_to_html_and_split() -> None:
    q = query(tune_url(f"tgram://{TG_TOKEN}/{TG_CHAT}"))
    assert q["format"] == "html"
    assert q["overflow"] == "split"
    assert "cto" in q
    assert "rto" in q


def test_tune_url_turns_off_slack_images() -> None:
    tuned = tune_url(f"slack://{SLACK}")
    assert query(tuned)["image"] == "no"
    assert tuned.startswith(f"slack://{SLACK}")


def test_tune_url_adds_only_timeouts_to_other_schemes() -> None:
    assert set(query(tune_url("json://127.0.0.1:8080/hook"))) == {"cto", "rto"}


def test_tune_url_never_overrides_the_users_parameters() -> None:
    tuned = tune_url(f"tgram://{TG_TOKEN}/{TG_CHAT}?format=markdown&overflow=truncate&rto=2")
    q = query(tuned)
    assert (q["format"], q["overflow"], q["rto"]) == ("markdown", "truncate", "2")
    assert query(tune_url(f"slack://{SLACK}?image=yes"))["image"] == "yes"


def test_tuned_urls_keep_the_path_and_credentials() -> None:
    url = "mailtos://user:p%40ss@mail.example.com:587?to=desk@example.com"
    tuned = tune_url(url)
    parts, orig = urlsplit(tuned), urlsplit(url)
    assert (parts.netloc, parts.path) == (orig.netloc, orig.path)
    assert query(tuned)["to"] == "desk@example.com"


# -- labels and url_key ---------------------------------------------------------------------------

SECRET_URLS = [
    (f"tgram://{TG_TOKEN}/{TG_CHAT}", [TG_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", TG_CHAT]),
    (f"slack://{SLACK}/#general", ["TIiajkdnlazkcOXrIdevi7FQ", "A1BRTD4JD"]),
    ("json://127.0.0.1:8080/hook/s3cr3t-path?token=abc123def", ["s3cr3t-path", "abc123def"]),
    ("mailtos://desk:hunter2pass@smtp.example.com?to=a@example.com", ["hunter2pass", "desk:"]),
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", ["JHMHI8qBe7bk2ZwO5U711o3dV_js"]),
    ("ntfys://alice:wonderland@ntfy.sh/secret-topic", ["wonderland", "secret-topic"]),
    ("pbul://o.gn5kj6nfhv736I7jC3cj3QLRiyhgl98b", ["gn5kj6nfhv736"]),
]


@pytest.mark.parametrize(("url", "secrets"), SECRET_URLS)
def test_a_url_s_label_never_shows_a_secret(url: str, secrets: list[str]) -> None:
    shown = target_label("desk", 0, url)
    assert shown.startswith("desk[0] " + urlsplit(url).scheme + "://")
    for secret in secrets:
        assert secret.lower() not in shown.lower()


@pytest.mark.parametrize(("url", "secrets"), SECRET_URLS)
def test_url_key_is_stable_and_reveals_nothing(url: str, secrets: list[str]) -> None:
    key = url_key(url)
    assert key == url_key(url)
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert url_key(url + "x") != key


def test_targets_are_labelled_with_secret_free_labels(tmp_path: Path) -> None:
    n = notifier(tmp_path, f"tgram://{TG_TOKEN}/{TG_CHAT}", "json://127.0.0.1:8080/hook/s3cr3t")
    labels = [re.sub(r"#[0-9a-f]{4}$", "#", t.redacted) for t in n.targets.values()]
    assert labels == ["c0[0] tgram://*** #", "c1[0] json://127.0.0.1:8080 #"]
    for key, target in n.targets.items():
        assert target.key == key
        assert TG_TOKEN not in key
        assert "s3cr3t" not in key


def test_pacing_defaults_by_scheme_and_channel_setting(tmp_path: Path) -> None:
    n = notifier(tmp_path, f"tgram://{TG_TOKEN}/{TG_CHAT}", "json://127.0.0.1:8080/hook")
    assert [t.pacing for t in n.targets.values()] == [1.0, 0.2]


def test_the_log_redactor_learns_new_secrets_for_strings_it_has_already_seen() -> None:
    """Short strings are remembered once redacted; a secret learned later still masks them."""
    redactor = Redactor()
    line = "sent via hunter2bot"
    assert redactor.redact(line) == line  # remembered as harmless: no secret known yet
    redactor.add_urls(["tgram://hunter2bot/12345"])
    assert "hunter2bot" not in redactor.redact(line)
    assert redactor.redact(line) == redactor.redact(line)  # remembered again, masked
    long_line = "x" * 100 + " hunter2bot"
    assert "hunter2bot" not in redactor.redact(long_line)
