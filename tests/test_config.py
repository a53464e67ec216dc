"""The configuration loader: TOML text in, a valid Config or every problem by its key path."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from ticker.config import Config, load_config, parse_config
from ticker.durations import format_duration, parse_duration
from ticker.errors import ConfigError, Problem

MINIMAL = """
[[sources]]
id = "en"
url = "https://english.almayadeen.net/"
items = "css:.ticker__item"
"""


def parse(text: str, env: Mapping[str, str] | None = None, tmp: Path | None = None) -> Config:
    path = (tmp or Path("/etc/ticker")) / "ticker.toml"
    return parse_config(text, path=path, env=env or {})


def problems(text: str, env: Mapping[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return info.value.problems


def messages(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    return [str(p) for p in problems(text, env)]


# -- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        (" 2 m ", 120.0),
        ("45", 45.0),
        ("1.5", 1.5),
        (45, 45.0),
        (1.5, 1.5),
        (0, 0.0),
    ],
)
def test_parse_duration_accepts_the_documented_forms(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["", "soon", "5x", "m5", "1h30x", "30 seconds", "-1", "-5s", -3, True, None, [30]]
)
def test_parse_duration_rejects_anything_else_with_an_example(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(value)


def test_invalid_duration_message_shows_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match=r'"30s"') as info:
        parse_duration("soon")
    assert "'soon'" in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.5, "500ms"), (30, "30s"), (90, "1m30s"), (3600, "1h"), (0, "0ms")]
)
def test_format_duration_gives_the_short_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_interval_in_a_config_is_seconds() -> None:
    config = parse(MINIMAL + 'interval = "500ms"\nrealert_after = "1h"\n')
    assert config.sources[0].interval == 0.5
    assert config.sources[0].realert_after == 3600.0


def test_bad_interval_is_reported_at_its_key() -> None:
    assert any(
        m.startswith("sources[0].interval: invalid duration 'often'")
        for m in messages(MINIMAL + 'interval = "often"\n')
    )


def test_zero_interval_is_refused() -> None:
    assert [p.path for p in problems(MINIMAL + "interval = 0\n")] == ["sources[0].interval"]


# -- environment interpolation ---------------------------------------------------------------

CHANNEL = """
[[channels]]
id = "desk"
urls = ["mailtos://user:pass@example.com", "tgram://${TG_TOKEN}/${TG_CHAT:-12345}"]
"""


def test_variables_are_taken_from_the_environment() -> None:
    config = parse(MINIMAL + CHANNEL, env={"TG_TOKEN": "123:abc", "TG_CHAT": "-100"})
    assert config.channels[0].urls[1] == "tgram://123:abc/-100"


def test_default_applies_only_when_the_variable_is_unset() -> None:
    config = parse(MINIMAL + CHANNEL, env={"TG_TOKEN": "123:abc"})
    assert config.channels[0].urls[1] == "tgram://123:abc/12345"


def test_empty_default_is_allowed() -> None:
    config = parse(MINIMAL + 'name = "x${SUFFIX:-}"\n')
    assert config.sources[0].name == "x"


def test_double_dollar_is_a_literal_dollar() -> None:
    config = parse(MINIMAL + 'name = "costs $$5"\n')
    assert config.sources[0].name == "costs $5"


def test_missing_variable_is_reported_at_its_key_path() -> None:
    found = messages(MINIMAL + CHANNEL, env={})
    assert len(found) == 1
    assert found[0].startswith("channels[0].urls[1]: environment variable TG_TOKEN is not set")


def test_variables_are_interpolated_everywhere_not_only_in_urls() -> None:
    config = parse(
        MINIMAL.replace('"https://english.almayadeen.net/"', '"${BASE}/en"'),
        env={"BASE": "https://example.com"},
    )
    assert config.sources[0].url == "https://example.com/en"


# -- paths -----------------------------------------------------------------------------------


def test_relative_state_path_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    file = conf_dir / "ticker.toml"
    file.write_text('[service]\nstate = "data/ticker.db"\n' + MINIMAL, "utf-8")
    config = load_config(file, env={})
    assert config.service.state == (conf_dir / "data" / "ticker.db").resolve()


def test_absolute_state_path_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "state.db"
    config = parse(f'[service]\nstate = "{target}"\n' + MINIMAL)
    assert config.service.state == target


def test_default_state_sits_beside_the_config(tmp_path: Path) -> None:
    file = tmp_path / "ticker.toml"
    file.write_text(MINIMAL, "utf-8")
    assert load_config(file, env={}).service.state == tmp_path.resolve() / "ticker.db"


# -- unknown keys ----------------------------------------------------------------------------


def test_unknown_key_suggests_the_close_match() -> None:
    found = messages(MINIMAL + 'intervall = "30s"\n')
    assert found == ["sources[0].intervall: unknown key 'intervall'; did you mean 'interval'?"]


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    found = messages(MINIMAL + 'colour = "red"\n')
    assert found == ["sources[0].colour: unknown key 'colour'"]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("[service]\nconcurrancy = 3\n" + MINIMAL, "service.concurrancy"),
        ("[servce]\n" + MINIMAL, "servce"),
        (
            MINIMAL + '[[channels]]\nid = "d"\nurls = ["json://x"]\nurl = "json://y"\n',
            "channels[0].url",
        ),
        (MINIMAL + '[[routes]]\nchannels = []\nsource = ["en"]\n', "routes[0].source"),
    ],
)
def test_unknown_keys_are_found_in_every_section(text: str, path: str) -> None:
    assert path in {p.path for p in problems(text)}


# -- selectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("css:div[", "sources[0].items: invalid CSS selector 'div['"),
        ("css:::", "sources[0].items: invalid CSS selector '::'"),
        ("xpath://div[", "sources[0].items: invalid XPath expression '//div['"),
        ("jmespath:items[", "sources[0].items: invalid JMESPath expression 'items['"),
        ("css:", "sources[0].items: empty css selector 'css:'"),
    ],
)
def test_invalid_selectors_are_configuration_problems(spec: str, expected: str) -> None:
    text = f'[[sources]]\nid = "en"\nurl = "https://example.com/"\nitems = "{spec}"\n'
    found = messages(text)
    assert len(found) == 1
    assert found[0].startswith(expected)


@pytest.mark.parametrize("key", ["text", "link", "canary"])
def test_invalid_inner_selectors_are_reported_at_their_key(key: str) -> None:
    assert [p.path for p in problems(MINIMAL + f'{key} = "xpath://a["\n')] == [f"sources[0].{key}"]


def test_json_and_html_selectors_do_not_mix() -> None:
    found = problems(MINIMAL + 'text = "jmespath:title"\n')
    assert [p.path for p in found] == ["sources[0].text"]
    assert "cannot run inside css" in found[0].message


def test_selectors_compile_to_their_kind() -> None:
    config = parse(
        MINIMAL + 'text = "xpath:.//a/text()"\nlink = "css:a::attr(href)"\ncanary = ".ticker"\n'
    )
    source = config.sources[0]
    assert (source.items.kind, source.text and source.text.kind) == ("css", "xpath")
    assert source.canary is not None
    assert source.canary.kind == "css"  # a bare selector is CSS
    assert not source.is_json


def test_missing_items_selector_is_required() -> None:
    found = problems('[[sources]]\nid = "en"\nurl = "https://example.com/"\n')
    assert [p.path for p in found] == ["sources[0].items"]


# -- every problem at once -------------------------------------------------------------------

FIVE_PROBLEMS = """
[service]
concurrency = 0

[[sources]]
id = "en"
url = "https://english.almayadeen.net/"
items = "css:div["
interval = "often"
colour = "red"

[[channels]]
id = "desk"
urls = ["tgram://${TG_TOKEN}/1"]
"""


def test_every_problem_is_reported_at_once() -> None:
    found = problems(FIVE_PROBLEMS)
    assert sorted(p.path for p in found) == sorted(
        [
            "service.concurrency",
            "sources[0].items",
            "sources[0].interval",
            "sources[0].colour",
            "channels[0].urls[0]",
        ]
    )


def test_config_error_text_lists_each_problem_on_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse(FIVE_PROBLEMS)
    lines = str(info.value).splitlines()
    assert len(lines) == 5
    assert "channels[0].urls[0]: environment variable TG_TOKEN is not set" in "\n".join(lines)


def test_problems_across_several_sources_are_all_reported() -> None:
    text = "".join(
        f'[[sources]]\nid = "s{i}"\nurl = "https://example.com/{i}"\nitems = "css:li["\n'
        for i in range(3)
    )
    assert [p.path for p in problems(text)] == [f"sources[{i}].items" for i in range(3)]


# -- files -----------------------------------------------------------------------------------


def test_a_file_that_is_not_toml_is_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "ticker.toml"
    file.write_text("this is not = = toml [\n", "utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML") as info:
        load_config(file, env={})
    assert str(file) in str(info.value)


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(file, env={})
    assert str(file) in str(info.value)
    assert len(info.value.problems) == 1


def test_a_binary_file_is_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "ticker.toml"
    file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(file, env={})


def test_no_sources_is_a_problem() -> None:
    assert [p.path for p in problems("[service]\n")] == ["sources"]


def test_literal_secrets_in_a_world_readable_file_warn(tmp_path: Path) -> None:
    file = tmp_path / "ticker.toml"
    file.write_text(MINIMAL + '[[channels]]\nid = "desk"\nurls = ["tgram://123:abc/456"]\n')
    os.chmod(file, 0o644)
    assert any("chmod 600" in w for w in load_config(file, env={}).warnings)
    os.chmod(file, 0o600)
    assert load_config(file, env={}).warnings == ()


# -- profiles --------------------------------------------------------------------------------


def test_builtin_profile_supplies_url_and_selectors() -> None:
    config = parse('[[sources]]\nprofile = "almayadeen-en"\n')
    source = config.sources[0]
    assert source.id == "almayadeen-en"  # the profile name stands in for a missing id
    assert source.url == "https://english.almayadeen.net/"
    assert str(source.items) == "css:.ticker__item"
    assert source.canary is not None
    assert str(source.canary) == "css:.ticker"
    assert source.name == "Al Mayadeen English"
    assert source.interval == 30.0


def test_arabic_profile_supplies_text_and_link_selectors() -> None:
    source = parse('[[sources]]\nid = "ar"\nprofile = "almayadeen-ar"\n').sources[0]
    assert source.url == "https://www.almayadeen.net/"
    assert str(source.text) == "css:a p"
    assert str(source.link) == "css:a::attr(href)"
    assert source.name == "الميادين"


def test_source_keys_override_its_profile() -> None:
    source = parse(
        '[[sources]]\nid = "en"\nprofile = "almayadeen-en"\ninterval = "5m"\n'
        'url = "https://mirror.example/"\n'
    ).sources[0]
    assert (source.url, source.interval) == ("https://mirror.example/", 300.0)
    assert str(source.items) == "css:.ticker__item"


def test_profiles_table_overrides_only_the_keys_it_sets() -> None:
    config = parse(
        '[profiles.almayadeen-en]\nitems = "css:.breaking-news li"\n\n'
        '[[sources]]\nprofile = "almayadeen-en"\n'
    )
    source = config.sources[0]
    assert str(source.items) == "css:.breaking-news li"
    assert source.url == "https://english.almayadeen.net/"
    assert str(source.canary) == "css:.ticker"
    assert source.name == "Al Mayadeen English"


def test_a_new_profile_can_be_defined_in_the_config() -> None:
    source = parse(
        '[profiles.mysite]\nurl = "https://my.example/"\nitems = "css:.t li"\n\n'
        '[[sources]]\nprofile = "mysite"\n'
    ).sources[0]
    assert (source.id, source.url, str(source.items)) == (
        "mysite",
        "https://my.example/",
        "css:.t li",
    )


def test_unknown_profile_is_reported_with_a_suggestion() -> None:
    found = problems('[[sources]]\nid = "en"\nprofile = "almayaden-en"\n')
    assert found[0].path == "sources[0].profile"
    assert "did you mean 'almayadeen-en'?" in found[0].message


def test_profile_tables_reject_unknown_keys() -> None:
    found = problems('[profiles.almayadeen-en]\nitemz = "css:li"\n' + MINIMAL)
    assert [p.path for p in found] == ["profiles.almayadeen-en.itemz"]


# -- ids and references ----------------------------------------------------------------------


def test_duplicate_source_ids_are_reported() -> None:
    found = messages(MINIMAL + MINIMAL)
    assert found == ["sources[1].id: duplicate source id 'en'"]


def test_duplicate_channel_ids_are_reported() -> None:
    channel = '[[channels]]\nid = "desk"\nurls = ["json://localhost/"]\n'
    assert messages(MINIMAL + channel + channel) == ["channels[1].id: duplicate channel id 'desk'"]


@pytest.mark.parametrize("sid", ["EN", "en_1", "-en", "", "en-"])
def test_source_ids_must_be_lowercase_slugs(sid: str) -> None:
    text = f'[[sources]]\nid = "{sid}"\nurl = "https://e.com/"\nitems = "li"\n'
    assert [p.path for p in problems(text)] == ["sources[0].id"]


@pytest.mark.parametrize("url", ["ftp://example.com/", "example.com", "https://"])
def test_source_url_must_be_http(url: str) -> None:
    text = f'[[sources]]\nid = "en"\nurl = "{url}"\nitems = "li"\n'
    assert [p.path for p in problems(text)] == ["sources[0].url"]


def test_disabled_sources_are_skipped_but_still_checked_for_unknown_keys() -> None:
    config = parse(MINIMAL + '[[sources]]\nid = "off"\nenabled = false\n')
    assert [s.id for s in config.sources] == ["en"]
    found = problems(MINIMAL + '[[sources]]\nid = "off"\nenabled = false\nurll = "x"\n')
    assert [p.path for p in found] == ["sources[1].urll"]


ROUTED = (
    MINIMAL
    + """
[[channels]]
id = "desk"
urls = ["json://localhost/"]
"""
)


def test_routes_to_unknown_channels_are_reported_with_a_suggestion() -> None:
    found = problems(ROUTED + '[[routes]]\nchannels = ["dsk"]\n')
    assert [p.path for p in found] == ["routes[0].channels[0]"]
    assert found[0].message.startswith("unknown channel 'dsk'; did you mean 'desk'?")
    assert "(known: desk)" in found[0].message


def test_routes_from_unknown_sources_are_reported() -> None:
    found = problems(ROUTED + '[[routes]]\nchannels = ["desk"]\nsources = ["en", "fr"]\n')
    assert [p.path for p in found] == ["routes[0].sources[1]"]
    assert "unknown source 'fr'" in found[0].message


def test_route_needs_channels() -> None:
    assert [p.path for p in problems(ROUTED + "[[routes]]\ntags = []\n")] == ["routes[0].channels"]


def test_bad_regexes_in_routes_are_reported_at_their_index() -> None:
    found = problems(
        ROUTED + '[[routes]]\nchannels = ["desk"]\nmatch = ["(?i)gaza", "(unclosed"]\n'
        'exclude = ["[z-a]"]\n'
    )
    assert [p.path for p in found] == ["routes[0].match[1]", "routes[0].exclude[0]"]
    assert found[0].message.startswith("invalid regular expression '(unclosed'")


def test_valid_routes_compile_their_regexes() -> None:
    config = parse(
        ROUTED + '[[routes]]\nchannels = ["desk"]\nsources = ["en"]\nmatch = ["(?i)gaza"]\n'
    )
    route = config.routes[0]
    assert route.channels == ("desk",)
    assert route.sources == ("en",)
    assert route.match[0].search("GAZA ministry")


def test_health_channels_must_exist() -> None:
    found = problems('[service]\nhealth_channels = ["ops"]\n' + ROUTED)
    assert [p.path for p in found] == ["service.health_channels[0]"]


def test_channel_urls_must_look_like_apprise_urls() -> None:
    found = problems(MINIMAL + '[[channels]]\nid = "desk"\nurls = ["not a url"]\n')
    assert [p.path for p in found] == ["channels[0].urls[0]"]


def test_a_valid_config_has_its_defaults() -> None:
    config = parse(MINIMAL)
    source = config.sources[0]
    assert source.name == "en"
    assert source.interval == 60.0
    assert source.realert_after == 6 * 3600.0
    assert config.service.concurrency == 32
    assert config.service.per_host == 2
    assert config.service.host_spacing == 0.0
    assert config.channels == ()
    assert config.routes == ()
