"""The command line as a user runs it: `python -m ticker ...` against a real local page server.

Subprocesses run in a thread (``asyncio.to_thread``) so the event loop serving the pages stays free.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import AR_PAGE, EN_PAGE, PageServer, en_page, run_ticker, write_config

REPO = Path(__file__).resolve().parent.parent
HISTORY_CSV_COLUMNS = ("first_seen", "last_seen", "source", "kind", "text", "link")

BASE = [
    "Gaza Ministry of Health: We renew our urgent appeal to protect healthcare institutions",
    "Palestinian sources: Several displaced Palestinians injured west of Rafah",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
]
ADDED = "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the fence"

AR_SELECTORS = """items = "css:#ticker-box ul li .ticker-item .ticker-text"
text = "css:a p"
link = "css:a::attr(href)"
"""


def source_toml(sid: str, url: str, extra: str = 'items = "css:.ticker__item"\n') -> str:
    return f'\n[[sources]]\nid = "{sid}"\nurl = "{url}"\n{extra}'


def config(tmp_path: Path, *sources: str) -> Path:
    return write_config(tmp_path, '[service]\nstate = "state.db"\n' + "".join(sources))


async def ticker(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_ticker, *args, cwd=cwd)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def polls(stderr: str) -> dict[str, dict[str, Any]]:
    return {e["source"]: e for e in json_lines(stderr) if e.get("event") == "poll"}


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- once: the "done when" -----------------------------------------------------------


async def test_once_records_a_baseline_then_prints_only_the_added_line(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = config(tmp_path, source_toml("en", page_server.url("/en")))

    first = await ticker("once", "-c", str(cfg))
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""  # the first poll is a baseline: nothing alerted
    assert (tmp_path / "state.db").is_file()

    page_server.set("/en", en_page([ADDED, *BASE]))
    before = datetime.now(UTC).replace(microsecond=0)
    second = await ticker("once", "-c", str(cfg))
    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert len(lines) == 1, second.stdout
    item = json.loads(lines[0])
    assert {"source", "text", "link", "first_seen"} <= set(item)
    assert item["source"] == "en"
    assert item["text"] == ADDED
    assert item["link"] is None
    seen = datetime.fromisoformat(item["first_seen"].replace("Z", "+00:00"))
    assert item["first_seen"].endswith("Z")
    assert before - timedelta(seconds=1) <= seen <= datetime.now(UTC) + timedelta(seconds=1)

    third = await ticker("once", "-c", str(cfg))
    assert third.returncode == 0, third.stderr
    assert third.stdout == ""

    page_server.set("/en", en_page(list(reversed([ADDED, *BASE]))))
    reordered = await ticker("once", "-c", str(cfg))
    assert reordered.returncode == 0, reordered.stderr
    assert reordered.stdout == ""


async def test_once_ignores_cosmetic_changes_and_a_line_coming_back_soon(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = config(tmp_path, source_toml("en", page_server.url("/en")))
    assert (await ticker("once", "-c", str(cfg))).stdout == ""

    cosmetic = [f"BREAKING: {BASE[0].upper()}", "  " + BASE[1].replace(" ", "\u200b  "), BASE[2]]
    page_server.set("/en", en_page(cosmetic))
    assert (await ticker("once", "-c", str(cfg))).stdout == ""

    page_server.set("/en", en_page(BASE[1:]))  # a line scrolls away ...
    assert (await ticker("once", "-c", str(cfg))).stdout == ""
    page_server.set("/en", en_page(BASE))  # ... and comes back within realert_after
    back = await ticker("once", "-c", str(cfg))
    assert back.returncode == 0, back.stderr
    assert back.stdout == ""


async def test_once_keeps_unicode_intact_on_stdout(page_server: PageServer, tmp_path: Path) -> None:
    body = AR_PAGE.read_text("utf-8")
    page_server.set("/ar", body)
    cfg = config(tmp_path, source_toml("ar", page_server.url("/ar"), AR_SELECTORS))
    assert (await ticker("once", "-c", str(cfg))).returncode == 0
    added = '<li><div class="ticker-item"><div class="ticker-text"><a href="/news/urgent/9">' \
        "<p>عاجل: غارة إسرائيلية على الضاحية الجنوبية</p></a></div></div></li>"  # fmt: skip
    page_server.set("/ar", body.replace("<ul>\n", "<ul>\n" + added, 1))
    result = await ticker("once", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    [item] = json_lines(result.stdout)
    assert item["text"] == "عاجل: غارة إسرائيلية على الضاحية الجنوبية"
    assert item["link"] == page_server.url("/news/urgent/9")
    assert "\\u" not in result.stdout  # text, not escapes


# -- failures --------------------------------------------------------------------------------


async def test_a_failing_source_does_not_stop_the_others(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/broken", "server error", status=500)
    cfg = config(
        tmp_path,
        source_toml("broken", page_server.url("/broken")),
        source_toml("closed", f"http://127.0.0.1:{closed_port()}/"),
        source_toml("good", page_server.url("/en")),
    )
    first = await ticker("once", "-c", str(cfg), "--log-format", "json")
    assert first.returncode == 1
    events = polls(first.stderr)
    assert events["good"]["status"] == "ok"
    assert events["broken"]["status"] == "error"
    assert events["broken"]["error_kind"] == "http"
    assert events["closed"]["status"] == "error"
    assert events["closed"]["error_kind"] == "connect"

    page_server.set("/en", en_page([ADDED, *BASE]))
    second = await ticker("once", "-c", str(cfg))
    assert second.returncode == 1
    assert [i["text"] for i in json_lines(second.stdout)] == [ADDED]

    history = await ticker("history", "-c", str(cfg), "--format", "jsonl")
    assert history.returncode == 0, history.stderr
    recorded = json_lines(history.stdout)
    assert {i["source"] for i in recorded} == {"good"}
    assert sorted(i["text"] for i in recorded) == sorted([ADDED, *BASE])


async def test_once_logs_one_json_poll_event_per_source(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/gone", "nope", status=404)
    cfg = config(
        tmp_path,
        source_toml("en", page_server.url("/en")),
        source_toml("gone", page_server.url("/gone")),
    )
    result = await ticker("once", "-c", str(cfg))  # stderr is not a terminal: JSON by default
    assert result.returncode == 1
    events = json_lines(result.stderr)  # every line parses as JSON
    poll_events = [e for e in events if e.get("event") == "poll"]
    assert sorted(e["source"] for e in poll_events) == ["en", "gone"]
    for event in poll_events:
        assert {"source", "status", "items", "new", "duration_ms", "level", "timestamp"} <= set(
            event
        )
        assert isinstance(event["duration_ms"], (int, float))
        assert event["duration_ms"] >= 0
    by_source = {e["source"]: e for e in poll_events}
    assert by_source["en"]["status"] == "ok"
    assert (by_source["en"]["items"], by_source["en"]["new"]) == (3, 0)
    assert by_source["gone"]["status"] == "error"
    assert (by_source["gone"]["items"], by_source["gone"]["new"]) == (0, 0)
    assert "404" in by_source["gone"]["error"]

    page_server.set("/en", en_page([ADDED, *BASE]))
    again = await ticker("once", "-c", str(cfg), "--log-format", "json")
    en = polls(again.stderr)["en"]
    assert (en["status"], en["items"], en["new"]) == ("ok", 4, 1)


async def test_once_with_unknown_source_id_is_a_usage_error(
    page_server: PageServer, tmp_path: Path
) -> None:
    cfg = config(tmp_path, source_toml("en", page_server.url("/en")))
    result = await ticker("once", "-c", str(cfg), "fr")
    assert result.returncode == 2
    assert "unknown source 'fr'" in result.stderr
    assert not (tmp_path / "state.db").exists()


async def test_a_state_file_that_is_not_sqlite_is_refused_untouched(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = config(tmp_path, source_toml("en", page_server.url("/en")))
    state = tmp_path / "state.db"
    state.write_text("hello, these are my notes\n")
    for command in ("once", "check", "history"):
        result = await ticker(command, "-c", str(cfg))
        assert result.returncode == 1, (command, result.stderr)
        assert str(state) in result.stderr
        assert "not a SQLite database" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
        assert state.read_text() == "hello, these are my notes\n"
    assert names(tmp_path) == ["state.db", "ticker.toml"]


# -- probe -----------------------------------------------------------------------------------


def ticker_lines_of(page: Path) -> list[str]:
    """The fixture's ticker lines, read straight from its markup."""
    return re.findall(r'<div class="ticker__item">(.*?)</div>', page.read_text("utf-8"))


async def test_probe_prints_exactly_the_ten_ticker_lines() -> None:
    result = await ticker(
        "probe", "tests/data/almayadeen-en.html", "--items", "css:.ticker__item", cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    expected = ticker_lines_of(EN_PAGE)
    assert len(expected) == 10
    rows = result.stdout.splitlines()
    assert [re.sub(r"^\s*\d+  ", "", r) for r in rows] == expected
    assert [int(r.split()[0]) for r in rows] == list(range(1, 11))
    for menu in ("Most Read", "Politics", "Morgan Ortagus", "Privacy Policy"):
        assert menu not in result.stdout
    assert "10 item(s) from 10 match(es)" in result.stderr


async def test_probe_jsonl_with_a_profile_gives_arabic_lines_and_links() -> None:
    result = await ticker("probe", str(AR_PAGE), "--profile", "almayadeen-ar", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    items = json_lines(result.stdout)
    assert len(items) == 5
    assert items[-1]["text"] == "الإعلام الإسرائيلي: مقتل 4 جنود إسرائيليين في قطاع غزة"


async def test_probe_of_a_saved_page_shows_the_links_it_finds() -> None:
    """The README's example: a saved page's relative links must show, so a --link selector can
    be checked (relative as written, or resolved against a base; never silently dropped)."""
    result = await ticker(
        "probe",
        "tests/data/almayadeen-ar.html",
        "--items",
        "css:#ticker-box ul li .ticker-item .ticker-text",
        "--text",
        "css:a p",
        "--link",
        "css:a::attr(href)",
        "--format",
        "jsonl",
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    links = [i["link"] for i in json_lines(result.stdout)]
    assert len(links) == 5
    for n, link in enumerate(links):
        assert link is not None, f"item {n + 1}: link selector matched but no link was shown"
        assert link.endswith(f"/news/urgent/{1000 + n}")


async def test_probe_over_http(page_server: PageServer) -> None:
    page_server.set("/en", en_page(BASE))
    result = await ticker("probe", page_server.url("/en"), "--items", "css:.ticker__item")
    assert result.returncode == 0, result.stderr
    assert [re.sub(r"^\s*\d+  ", "", r) for r in result.stdout.splitlines()] == BASE


async def test_probe_matching_nothing_hints_and_succeeds() -> None:
    result = await ticker("probe", str(EN_PAGE), "--items", "css:.no-such-thing li")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "hint:" in result.stderr


async def test_probe_with_a_bad_selector_is_a_usage_error() -> None:
    result = await ticker("probe", str(EN_PAGE), "--items", "css:div[")
    assert result.returncode == 2
    assert "invalid CSS selector" in result.stderr
    assert "Traceback" not in result.stderr


async def test_probe_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = await ticker("probe", str(tmp_path / "nope.html"), "--items", "css:li")
    assert result.returncode == 2
    assert "nope.html" in result.stderr


# -- validate --------------------------------------------------------------------------------


async def test_validate_accepts_a_good_config(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        source_toml("en", "https://english.almayadeen.net/"),
        '\n[[sources]]\nprofile = "almayadeen-ar"\n',
    )
    result = await ticker("validate", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "ok: 2 source(s)" in result.stdout
    assert not (tmp_path / "state.db").exists()  # validating writes nothing


BAD_CONFIG = """
[service]
concurrency = 0

[[sources]]
id = "en"
url = "https://english.almayadeen.net/"
items = "css:div["
intervall = "30s"

[[sources]]
id = "en"
url = "ftp://example.com/"
items = "css:li"

[[channels]]
id = "desk"
urls = ["tgram://${TICKER_TEST_SURELY_UNSET_VAR}/1"]

[[routes]]
channels = ["dsk"]
match = ["(unclosed"]
"""

BAD_PATHS = [
    "service.concurrency",
    "sources[0].items",
    "sources[0].intervall",
    "sources[1].url",
    "channels[0].urls[0]",
    "routes[0].channels[0]",
    "routes[0].match[0]",
]


async def test_validate_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, BAD_CONFIG)
    result = await ticker("validate", "-c", str(cfg))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"has {len(BAD_PATHS)} problem(s)" in result.stderr
    problem_lines = [ln.strip() for ln in result.stderr.splitlines() if ln.startswith("  ")]
    assert sorted(ln.split(":", 1)[0] for ln in problem_lines) == sorted(BAD_PATHS)
    assert "did you mean 'interval'?" in result.stderr
    assert "did you mean 'desk'?" in result.stderr
    assert "environment variable TICKER_TEST_SURELY_UNSET_VAR is not set" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_missing_config_file_is_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    for command in ("validate", "once", "check", "history"):
        result = await ticker(command, "-c", str(missing))
        assert result.returncode == 2, command
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: configuration file {str(missing)!r} not found"
        )
        assert "Traceback" not in result.stderr


async def test_a_config_that_is_not_toml_is_exit_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "[[sources]\nid = \n")
    result = await ticker("validate", "-c", str(cfg))
    assert result.returncode == 2
    assert "is not valid TOML" in result.stderr


async def test_usage_errors_exit_2() -> None:
    assert (await ticker("once")).returncode == 2  # -c is required
    assert (await ticker("no-such-command")).returncode == 2


# -- check -----------------------------------------------------------------------------------


async def test_check_without_state_shows_a_baseline_and_writes_nothing(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = config(tmp_path, source_toml("en", page_server.url("/en")))
    result = await ticker("check", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "en: 3 item(s)" in result.stdout
    assert "baseline" in result.stdout
    for line in BASE:
        assert line in result.stdout
    assert names(tmp_path) == ["ticker.toml"]


async def test_check_marks_new_and_known_and_changes_no_state(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = config(tmp_path, source_toml("en", page_server.url("/en")))
    assert (await ticker("once", "-c", str(cfg))).returncode == 0
    page_server.set("/en", en_page([ADDED, *BASE]))
    before = (await ticker("history", "-c", str(cfg), "--format", "jsonl")).stdout

    table = await ticker("check", "-c", str(cfg))
    assert table.returncode == 0, table.stderr
    rows = {ln.split(None, 1)[1]: ln.split(None, 1)[0] for ln in table.stdout.splitlines()[2:]}
    assert rows == {ADDED: "NEW", **dict.fromkeys(BASE, "known")}

    jsonl = await ticker("check", "-c", str(cfg), "--format", "jsonl")
    marks = {i["text"]: i["status"] for i in json_lines(jsonl.stdout)}
    assert marks == {ADDED: "new", **dict.fromkeys(BASE, "known")}

    assert (await ticker("history", "-c", str(cfg), "--format", "jsonl")).stdout == before
    once = await ticker("once", "-c", str(cfg))  # check sent and recorded nothing
    assert [i["text"] for i in json_lines(once.stdout)] == [ADDED]


async def test_check_reports_a_failing_source_and_exits_1(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/broken", "oops", status=503)
    cfg = config(
        tmp_path,
        source_toml("en", page_server.url("/en")),
        source_toml("broken", page_server.url("/broken")),
    )
    result = await ticker("check", "-c", str(cfg))
    assert result.returncode == 1
    assert "broken: error: HTTP 503" in result.stderr
    assert "en: 3 item(s)" in result.stdout


# -- history ---------------------------------------------------------------------------------


async def _two_sources_with_history(page_server: PageServer, tmp_path: Path) -> Path:
    page_server.set("/en", en_page(BASE))
    page_server.set("/ar", AR_PAGE.read_text("utf-8"))
    cfg = config(
        tmp_path,
        source_toml("en", page_server.url("/en")),
        source_toml("ar", page_server.url("/ar"), AR_SELECTORS),
    )
    assert (await ticker("once", "-c", str(cfg))).returncode == 0
    page_server.set("/en", en_page([ADDED, 'Quoted, "comma" line', *BASE]))
    assert len(json_lines((await ticker("once", "-c", str(cfg))).stdout)) == 2
    return cfg


async def test_history_formats_filters_and_sources(page_server: PageServer, tmp_path: Path) -> None:
    cfg = await _two_sources_with_history(page_server, tmp_path)

    jsonl = await ticker("history", "-c", str(cfg), "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    items = json_lines(jsonl.stdout)
    assert len(items) == 3 + 5 + 2
    for item in items:
        assert {"source", "text", "link", "first_seen", "last_seen", "kind"} <= set(item)
    kinds = {i["text"]: i["kind"] for i in items}
    assert kinds[ADDED] == "new"
    assert kinds[BASE[0]] == "baseline"
    ar = [i for i in items if i["source"] == "ar"]
    assert len(ar) == 5
    assert ar[-1]["text"] == "الإعلام الإسرائيلي: مقتل 4 جنود إسرائيليين في قطاع غزة"
    assert ar[0]["link"] == page_server.url("/news/urgent/1000")

    only_ar = await ticker("history", "-c", str(cfg), "--source", "ar", "--format", "jsonl")
    assert [i["source"] for i in json_lines(only_ar.stdout)] == ["ar"] * 5

    grep = await ticker("history", "-c", str(cfg), "--grep", "(?i)RAFAH", "--format", "jsonl")
    assert [i["text"] for i in json_lines(grep.stdout)] == [BASE[1]]

    grep_ar = await ticker("history", "-c", str(cfg), "--grep", "غزة", "--format", "jsonl")
    assert {i["source"] for i in json_lines(grep_ar.stdout)} == {"ar"}

    since = await ticker("history", "-c", str(cfg), "--since", "1h", "--format", "jsonl")
    assert len(json_lines(since.stdout)) == 10
    until = await ticker("history", "-c", str(cfg), "--until", "1h", "--format", "jsonl")
    assert until.returncode == 0
    assert json_lines(until.stdout) == []
    future = await ticker("history", "-c", str(cfg), "--since", "2999-01-01", "--format", "jsonl")
    assert json_lines(future.stdout) == []

    csv_out = await ticker(
        "history", "-c", str(cfg), "--format", "csv", "--source", "en", "--since", "1h"
    )
    assert csv_out.returncode == 0, csv_out.stderr
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    # The columns may grow (the contract is extended, never changed); these stay.
    assert set(HISTORY_CSV_COLUMNS) <= set(rows[0])
    assert sorted(r["text"] for r in rows) == sorted([ADDED, 'Quoted, "comma" line', *BASE])
    assert all(r["source"] == "en" for r in rows)

    table = await ticker("history", "-c", str(cfg), "--format", "table", "--grep", "Lebanon")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["first_seen", "source", "kind", "delivered_after_s", "text"]
    assert len(lines) == 2
    assert lines[1].endswith(ADDED)
    assert " en " in lines[1]
    assert " new " in lines[1]


async def test_history_newest_first_and_limit(page_server: PageServer, tmp_path: Path) -> None:
    cfg = await _two_sources_with_history(page_server, tmp_path)
    result = await ticker(
        "history", "-c", str(cfg), "--newest-first", "--limit", "2", "--format", "jsonl"
    )
    texts = {i["text"] for i in json_lines(result.stdout)}
    assert texts == {ADDED, 'Quoted, "comma" line'}


async def test_history_rejects_bad_arguments_with_exit_2(tmp_path: Path) -> None:
    cfg = config(tmp_path, source_toml("en", "https://example.com/"))
    bad_time = await ticker("history", "-c", str(cfg), "--since", "yesterday-ish")
    assert bad_time.returncode == 2
    assert "invalid time" in bad_time.stderr
    bad_re = await ticker("history", "-c", str(cfg), "--grep", "(unclosed")
    assert bad_re.returncode == 2
    assert "invalid --grep" in bad_re.stderr
    bad_format = await ticker("history", "-c", str(cfg), "--format", "xml")
    assert bad_format.returncode == 2


async def test_history_without_state_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path, source_toml("en", "https://example.com/"))
    result = await ticker("history", "-c", str(cfg), "--format", "csv")
    assert result.returncode == 0
    [header] = result.stdout.splitlines()
    assert set(HISTORY_CSV_COLUMNS) <= set(header.split(","))
    assert "no state yet" in result.stderr
    assert not (tmp_path / "state.db").exists()
