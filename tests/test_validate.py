"""``ticker validate`` catches what would fail at start (issue 14): channel URLs apprise cannot
use, a state path that cannot be opened, a mistyped selector prefix. ``once``, ``run`` and
``notify-test`` refuse with the same words. ticker runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import PageServer, en_page, run_ticker, write_config

# A token of Telegram's shape (digits:35 characters); never sent anywhere.
TG_TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr"
SECRET = "s3cr3tPART"


async def ticker(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_ticker, *args, "--log-format", "json")


def toml(
    *,
    urls: list[str] | None = None,
    state: str = "state.db",
    items: str = "css:.ticker__item",
    page: str = "https://example.org/",
) -> str:
    text = (
        f'[service]\nstate = {json.dumps(state)}\n\n[[sources]]\nid = "en"\n'
        f"url = {json.dumps(page)}\nitems = {json.dumps(items)}\n"
    )
    if urls is not None:
        text += '\n[[channels]]\nid = "ok"\nurls = ["json://127.0.0.1:9/hook"]\n'
        text += f'\n[[channels]]\nid = "desk"\nurls = {json.dumps(urls)}\n'
    return text


def problems(stderr: str) -> list[str]:
    """The indented problem lines of a configuration error."""
    return [ln.strip() for ln in stderr.splitlines() if ln.startswith("  ")]


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def error_line(stderr: str) -> str:
    return next(ln for ln in stderr.splitlines() if ln.startswith("error: "))


# -- channel URLs ------------------------------------------------------------------------------

BAD_URLS = [
    f"json://127.0.0.1:{{port}}/hook/{SECRET}",  # fine: a plain web hook
    f"jsn://{SECRET}.example.org/hook",
    f"tgram://notatoken{SECRET}/123",
    f"https://discord.com/api/webhooks/4242/{SECRET}",  # fine: apprise knows Discord's own URL
    f"https://example.org/{SECRET}",
    f"tgram://{TG_TOKEN}/-100123",  # fine
]
EXPECTED = [
    "channels[1].urls[1]: apprise has no service 'jsn://' (did you mean 'json://'?)",
    "channels[1].urls[2]: apprise cannot use this tgram:// URL (check its token and ids)",
    "channels[1].urls[4]: apprise recognises no service in this https:// URL (a service's own "
    "webhook URL, such as Discord's or Slack's, or json:// for a plain web hook)",
]


@contextmanager
def listener() -> Iterator[socket.socket]:
    """A port on 127.0.0.1 that records whether anything connected."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def connected(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return False
    return True


async def test_validate_names_each_unusable_url_by_position_and_scheme_never_the_url(
    tmp_path: Path,
) -> None:
    with listener() as sock:
        port = sock.getsockname()[1]
        urls = [u.format(port=port) for u in BAD_URLS]
        cfg = write_config(tmp_path, toml(urls=urls))

        result = await ticker("validate", "-c", str(cfg))

        assert not connected(sock), "validate contacted a channel: it must stay offline"
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert problems(result.stderr) == EXPECTED
    assert f"has {len(EXPECTED)} problem(s)" in result.stderr
    output = result.stdout + result.stderr
    assert SECRET not in output
    assert "notatoken" not in output
    assert "Traceback" not in output
    assert names(tmp_path) == ["ticker.toml"]  # wrote nothing


async def test_once_run_and_notify_test_refuse_at_start_with_the_same_words(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(["A line"]))
    urls = [u.format(port=9) for u in BAD_URLS]
    cfg = write_config(tmp_path, toml(urls=urls, page=page_server.url("/en")))

    results = {
        command: await ticker(command, "-c", str(cfg)) for command in ("once", "run", "notify-test")
    }

    for command, result in results.items():
        assert result.returncode == 2, f"{command}: {result.stderr}"
        assert problems(result.stderr) == EXPECTED, command
        assert SECRET not in result.stdout + result.stderr, command
        assert "Traceback" not in result.stderr, command
    assert page_server.hits("/en") == 0  # refused before any poll
    assert not (tmp_path / "state.db").exists()


async def test_notify_test_of_one_channel_checks_only_that_channel(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, toml(urls=[f"jsn://{SECRET}/x", "jsn://other/y"]))

    result = await ticker("notify-test", "-c", str(cfg), "desk")

    assert result.returncode == 2, result.stderr
    assert problems(result.stderr) == [
        "channels[1].urls[0]: apprise has no service 'jsn://' (did you mean 'json://'?)",
        "channels[1].urls[1]: apprise has no service 'jsn://' (did you mean 'json://'?)",
    ]


# -- the state path ------------------------------------------------------------------------------


def _file_parent(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "data").write_text("not a directory")
    return "data/state.db", (
        f"the state directory {str(tmp_path / 'data')!r} cannot exist: "
        f"{str(tmp_path / 'data')!r} is a file, not a directory"
    )


def _missing_dir(tmp_path: Path) -> tuple[str, str]:
    missing = tmp_path / "sate" / "nested"
    return "sate/nested/state.db", (
        f"the state directory {str(missing)!r} does not exist, and ticker does not create it"
    )


def _dangling_dir(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    return "link/sub/state.db", (
        f"state directory {str(tmp_path / 'link')!r} is a symlink to "
        f"{str(tmp_path / 'gone')!r}, which does not exist"
    )


@pytest.mark.parametrize(
    "case", [_file_parent, _missing_dir, _dangling_dir], ids=["file", "missing", "dangling"]
)
async def test_validate_reports_an_unusable_state_path_and_once_refuses_it_alike(
    case: Callable[[Path], tuple[str, str]], tmp_path: Path
) -> None:
    state, words = case(tmp_path)
    before = names(tmp_path)
    cfg = write_config(tmp_path, toml(state=state))

    checked = await ticker("validate", "-c", str(cfg))
    once = await ticker("once", "-c", str(cfg))

    assert checked.returncode == 2, checked.stderr
    [problem] = problems(checked.stderr)
    assert problem.startswith("service.state: ")
    assert words in problem
    assert once.returncode == 1, once.stderr
    assert error_line(once.stderr) == "error: " + problem.removeprefix("service.state: ")
    # Nothing created: no directory, no file, no symlink target.
    assert names(tmp_path) == sorted([*before, "ticker.toml"])
    assert not (tmp_path / "gone").exists()


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """A directory the user running ticker cannot write to. Root writes anywhere a mode allows,
    so as root the directory is made immutable (chattr +i), which binds root too."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: no directory is unwritable for root")
    made = subprocess.run([chattr, "+i", str(directory)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed here: {made.stderr!r}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


async def test_validate_reports_a_state_directory_the_user_cannot_write(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    cfg = write_config(tmp_path, toml(state="locked/state.db"))

    with unwritable(locked):
        checked = await ticker("validate", "-c", str(cfg))
        once = await ticker("once", "-c", str(cfg))

    assert checked.returncode == 2, checked.stderr
    [problem] = problems(checked.stderr)
    assert problem == (
        f"service.state: the state directory {str(locked)!r} is not writable by the user "
        f"running ticker (uid {os.getuid()})"
    )
    assert once.returncode == 1, once.stderr
    assert error_line(once.stderr) == "error: " + problem.removeprefix("service.state: ")


# -- selectors ---------------------------------------------------------------------------------


async def test_a_mistyped_selector_prefix_names_the_prefixes(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, toml(items="cs:.ticker__item"))

    result = await ticker("validate", "-c", str(cfg))

    assert result.returncode == 2, result.stderr
    assert problems(result.stderr) == [
        "sources[0].items: unknown selector prefix 'cs:' in 'cs:.ticker__item' (did you mean "
        "'css:'?); the prefixes are css:, xpath: and jmespath:"
    ]
