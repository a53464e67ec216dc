"""Routing, digests and message text (ticker.alerting.routing, ticker.alerting.messages): pure,
values in and values out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ticker.alerting.messages import MAX_ITEM_CHARS, format_time, render, safe_text
from ticker.alerting.routing import AlertItem, Planned, channels_for, plan
from ticker.config import Config, parse_config
from ticker.errors import ConfigError

SEEN = datetime(2026, 11, 27, 10, 52, 31, tzinfo=UTC)
HOSTILE = 'Officials say <b>"no deal"</b> & talks resume *now* _today_'
ARABIC = "عاجل: غارة إسرائيلية على الضاحية الجنوبية لبيروت"

SOURCES = """
[service]
state = "state.db"

[[sources]]
id = "en"
name = "Al Mayadeen English"
url = "https://english.almayadeen.net/"
items = "css:.ticker__item"
tags = ["mena", "english"]

[[sources]]
id = "es"
name = "Al Mayadeen Español"
url = "https://espanol.almayadeen.net/"
items = "css:.ticker__item"
tags = ["latam"]
"""

CHANNELS = """
[[channels]]
id = "desk"
urls = ["json://127.0.0.1/desk"]

[[channels]]
id = "gaza"
urls = ["json://127.0.0.1/gaza"]

[[channels]]
id = "latam"
urls = ["json://127.0.0.1/latam"]
"""


def config(tmp_path: Path, extra: str = "") -> Config:
    return parse_config(SOURCES + CHANNELS + extra, path=tmp_path / "t.toml", env={})


def item(
    text: str = "Gaza Ministry of Health: 12 killed in Rafah",
    *,
    source: str = "en",
    name: str = "Al Mayadeen English",
    tags: tuple[str, ...] = ("mena", "english"),
    item_id: int = 1,
    link: str | None = "https://english.almayadeen.net/news/1",
    kind: str = "new",
    update_of: str | None = None,
) -> AlertItem:
    return AlertItem(
        item_id=item_id,
        source_id=source,
        source_name=name,
        text=text,
        link=link,
        first_seen=SEEN,
        tags=tags,
        kind=kind,
        update_of=update_of,
    )


def es_item(text: str, item_id: int = 50) -> AlertItem:
    return item(text, source="es", name="Al Mayadeen Español", tags=("latam",), item_id=item_id)


def route_to(cfg: Config, it: AlertItem) -> list[str]:
    return channels_for(it, cfg.routes, cfg.channels)


# -- routing -----------------------------------------------------------------------------


def test_without_routes_every_item_goes_to_every_channel(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert route_to(cfg, item()) == ["desk", "gaza", "latam"]
    assert route_to(cfg, es_item("Sismo en Chile")) == ["desk", "gaza", "latam"]


def test_a_route_narrows_by_source(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[routes]]\nchannels = ["latam"]\nsources = ["es"]\n')
    assert route_to(cfg, es_item("Sismo en Chile")) == ["latam"]
    assert route_to(cfg, item()) == []  # routes exist: an unrouted item goes nowhere


def test_a_route_narrows_by_tag(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[routes]]\nchannels = ["desk"]\ntags = ["mena"]\n')
    assert route_to(cfg, item()) == ["desk"]
    assert route_to(cfg, es_item("Sismo en Chile")) == []


def test_match_needs_any_regex_and_exclude_none(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[routes]]\nchannels = ["gaza"]\nmatch = ["(?i)gaza", "(?i)rafah"]\n'
        'exclude = ["(?i)sports"]\n',
    )
    assert route_to(cfg, item("Gaza Ministry of Health: 12 killed")) == ["gaza"]
    assert route_to(cfg, item("Strikes near RAFAH crossing")) == ["gaza"]
    assert route_to(cfg, item("Lebanon: sirens in the south")) == []
    assert route_to(cfg, item("Gaza sports stadium reopens")) == []


def test_sources_tags_and_regexes_combine_as_and(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[routes]]\nchannels = ["gaza"]\nsources = ["en"]\ntags = ["mena"]\n'
        'match = ["(?i)gaza"]\n',
    )
    assert route_to(cfg, item("Gaza: aid trucks enter")) == ["gaza"]
    assert route_to(cfg, es_item("Gaza: entran camiones de ayuda")) == []  # wrong source
    assert route_to(cfg, item("Gaza: aid trucks enter", tags=("other",))) == []  # wrong tag


def test_several_routes_add_up_in_configuration_order(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[routes]]\nchannels = ["latam"]\nmatch = ["(?i)gaza"]\n'
        '[[routes]]\nchannels = ["desk"]\nsources = ["en"]\n',
    )
    assert route_to(cfg, item("Gaza: aid trucks enter")) == ["desk", "latam"]


def test_an_item_matching_two_routes_to_one_channel_is_planned_once(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[routes]]\nchannels = ["desk", "gaza"]\nmatch = ["(?i)gaza"]\n'
        '[[routes]]\nchannels = ["desk"]\ntags = ["mena"]\n',
    )
    it = item("Gaza: aid trucks enter")
    planned = plan([it], routes=cfg.routes, channels=cfg.channels, burst=5)
    assert [(p.channel_id, p.items) for p in planned] == [("desk", (it,)), ("gaza", (it,))]


def test_up_to_burst_items_travel_one_message_each(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[routes]]\nchannels = ["desk"]\n')
    items = [item(f"line {n}", item_id=n) for n in range(5)]
    planned = plan(items, routes=cfg.routes, channels=cfg.channels, burst=5)
    assert [p.items for p in planned] == [(i,) for i in items]
    assert not any(p.is_digest for p in planned)


def test_more_than_burst_items_for_a_channel_make_one_digest(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[routes]]\nchannels = ["desk"]\n[[routes]]\nchannels = ["gaza"]\nmatch = ["gaza"]\n',
    )
    items = [item(f"line {n}", item_id=n) for n in range(6)]
    items.append(item("gaza line", item_id=99))
    planned = plan(items, routes=cfg.routes, channels=cfg.channels, burst=5)
    [desk] = [p for p in planned if p.channel_id == "desk"]
    assert desk.is_digest
    assert desk.items == tuple(items)  # all seven, in order, in one message
    # the same poll is no burst for a channel that gets only one of its items
    assert [(p.channel_id, p.items) for p in planned if p.channel_id == "gaza"] == [
        ("gaza", (items[-1],))
    ]


def test_digest_lists_every_item_in_one_message(tmp_path: Path) -> None:
    items = [item(f"Line number {n}: {HOSTILE}", item_id=n) for n in range(8)]
    message = render(Planned(channel_id="desk", items=tuple(items)))
    assert message.title == "Al Mayadeen English: 8 new items"
    for n in range(8):
        assert f"Line number {n}: {HOSTILE}" in message.body
    assert "2026-11-27 10:52 UTC" in message.body


# -- rendering ---------------------------------------------------------------------------


def test_message_title_is_the_source_name_and_body_the_full_text_link_and_time() -> None:
    long_text = "Gaza Ministry of Health: " + "x" * 400
    message = render(Planned(channel_id="desk", items=(item(long_text),)))
    assert message.title == "Al Mayadeen English"
    assert message.body.splitlines() == [
        long_text,
        "https://english.almayadeen.net/news/1",
        "2026-11-27 10:52 UTC",
    ]


def test_an_item_without_link_leaves_no_blank_line() -> None:
    message = render(Planned(channel_id="desk", items=(item("No link here", link=None),)))
    assert message.body == "No link here\n2026-11-27 10:52 UTC"


def test_a_display_time_zone_is_added_to_utc() -> None:
    message = render(Planned(channel_id="desk", items=(item(),)), timezone="Asia/Riyadh")
    assert "2026-11-27 10:52 UTC (13:52 Asia/Riyadh)" in message.body
    assert format_time(SEEN) == "2026-11-27 10:52 UTC"


def test_an_update_says_so_and_shows_the_earlier_text() -> None:
    it = item(
        "Israeli media: 5 Israeli soldiers killed",
        kind="update",
        update_of="Israeli media: 4 Israeli soldiers killed",
    )
    body = render(Planned(channel_id="desk", items=(it,))).body
    assert body.startswith("Update: Israeli media: 5 Israeli soldiers killed\n")
    assert "(was: Israeli media: 4 Israeli soldiers killed)" in body


def test_template_placeholders_are_filled(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[channels]]\nid = "tpl"\nurls = ["json://127.0.0.1/t"]\n'
        'template = "[{source}] {text} | {link} | {time} | {tags}"\n',
    )
    template = cfg.channels[-1].template
    body = render(Planned(channel_id="tpl", items=(item("Sirens in Haifa"),)), template=template)
    assert body.body == (
        "[Al Mayadeen English] Sirens in Haifa | https://english.almayadeen.net/news/1 | "
        "2026-11-27 10:52 UTC | mena, english"
    )


def test_braces_in_page_text_are_not_placeholders(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        '[[channels]]\nid = "tpl"\nurls = ["json://127.0.0.1/t"]\ntemplate = "{source}: {text}"\n',
    )
    text = "Leak says {x} and {source} and {0} and {text.__class__} {{y}}"
    for template in (None, cfg.channels[-1].template):
        body = render(Planned(channel_id="tpl", items=(item(text),)), template=template).body
        assert text in body


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{text} :-{", None),
        ("{text} }", None),
        ("{source} {{ {text} }", None),
        ("{text} {{x}}", "Gaza Ministry of Health: 12 killed in Rafah {x}"),
        (
            "{{ {source} }} {text}",
            "{ Al Mayadeen English } Gaza Ministry of Health: 12 killed in Rafah",
        ),
        ("[{kind}] {text}", "[new] Gaza Ministry of Health: 12 killed in Rafah"),
    ],
)
def test_a_template_the_configuration_accepts_renders(
    tmp_path: Path, template: str, rendered: str | None
) -> None:
    """A template is checked at load: either the config rejects it, naming the key, or every
    message renders (a template that raises at render time would fail inside the poll that
    records items). ``rendered`` is None for the templates the configuration must refuse."""
    extra = f'[[channels]]\nid = "tpl"\nurls = ["json://127.0.0.1/t"]\ntemplate = {template!r}\n'
    if rendered is None:
        with pytest.raises(ConfigError, match=r"channels\[3\]\.template: .*cannot be rendered"):
            config(tmp_path, extra.replace("'", '"'))
        return
    cfg = config(tmp_path, extra.replace("'", '"'))
    body = render(Planned(channel_id="tpl", items=(item(),)), template=cfg.channels[-1].template)
    assert body.body == rendered


# -- safe text (length caps, control characters removed) -------------------------------------------


def test_safe_text_strips_c0_and_c1_controls() -> None:
    assert safe_text("a\x00b\x07c\x1b[31md\x7fe\x85f\x9bg") == "abc[31mdefg"


def test_safe_text_strips_bidi_overrides_and_isolates() -> None:
    overrides = "".join(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
    assert safe_text(f"{overrides}gpj.exe{overrides}") == "gpj.exe"


def test_safe_text_keeps_arabic_and_other_scripts_intact() -> None:
    text = f"{ARABIC} — Ñandú 東京 ✓ {HOSTILE}"
    assert safe_text(text) == text


def test_safe_text_caps_an_item_at_1000_characters() -> None:
    out = safe_text("word " * 1000)
    assert len(out) <= MAX_ITEM_CHARS
    assert out.endswith("…")
    assert safe_text("x" * MAX_ITEM_CHARS) == "x" * MAX_ITEM_CHARS


def test_rendered_messages_carry_no_controls_and_are_capped() -> None:
    it = item("\u202eBREAKING\x1b: " + "y" * 5000)
    body = render(Planned(channel_id="desk", items=(it,))).body
    first = body.splitlines()[0]
    assert first.startswith("BREAKING: yyy")
    assert len(first) <= MAX_ITEM_CHARS
    assert "\u202e" not in body
    assert "\x1b" not in body
