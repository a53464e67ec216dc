"""The systemd unit (hardened, notify with a watchdog) and the notify protocol client."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticker.durations import parse_duration
from ticker.sdnotify import SystemdNotifier

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "ticker.service"
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (a key may repeat, e.g. SystemCallFilter=)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


def analyze(unit: Path) -> tuple[int, float, str]:
    """(exit code, overall exposure, output) of ``systemd-analyze security --offline=yes``."""
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    output = proc.stdout + proc.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match, output
    return proc.returncode, float(match.group(1)), output


# -- hardening -------------------------------------------------------------------------------


@needs_analyze
def test_the_unit_exposure_is_at_most_2() -> None:
    """Unit exposure: ``systemd-analyze security --offline=yes --threshold=20`` passes; exposure <=
    2.0."""
    code, exposure, output = analyze(Path("systemd/ticker.service"))
    assert code == 0, output
    assert exposure <= MAX_EXPOSURE, output


@needs_analyze
def test_the_exposure_check_fails_a_bare_unit(tmp_path: Path) -> None:
    """The check measures something: a unit without hardening is well above the threshold."""
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nType=notify\nExecStart=/usr/local/bin/ticker run\n", "utf-8")
    code, exposure, output = analyze(bare)
    assert exposure > MAX_EXPOSURE
    assert code != 0, output


# -- the unit's settings ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return unit_settings(UNIT)["Service"]


def one(service: dict[str, list[str]], key: str) -> str:
    assert key in service, f"{key}= missing from {UNIT.name}"
    return service[key][-1]


def test_the_unit_is_type_notify_with_a_watchdog(service: dict[str, list[str]]) -> None:
    assert one(service, "Type") == "notify"
    assert one(service, "NotifyAccess") == "main"
    watchdog = parse_duration(one(service, "WatchdogSec"))
    assert 10 <= watchdog <= 600


def test_the_unit_restarts_on_failure(service: dict[str, list[str]]) -> None:
    assert one(service, "Restart") == "on-failure"


def test_the_unit_does_not_restart_a_refused_configuration(service: dict[str, list[str]]) -> None:
    # ticker exits 2 when it refuses its configuration: a restart would only loop.
    assert one(service, "RestartPreventExitStatus") == "2"


def test_the_unit_runs_as_a_dynamic_user_with_its_own_directories(
    service: dict[str, list[str]],
) -> None:
    assert one(service, "DynamicUser") in ("yes", "true", "1")
    assert one(service, "StateDirectory") == "ticker"
    assert one(service, "ConfigurationDirectory") == "ticker"
    exec_start = one(service, "ExecStart")
    assert " run " in exec_start
    assert "${CONFIGURATION_DIRECTORY}/" in exec_start


def test_the_unit_gives_a_graceful_stop_time_to_finish(service: dict[str, list[str]]) -> None:
    """systemd must not SIGKILL before ticker's own stop timeout (10 s by default) runs out."""
    assert parse_duration(one(service, "TimeoutStopSec")) > 10
    assert "-HUP" in one(service, "ExecReload")  # SIGHUP re-reads the configuration


def test_the_unit_takes_secrets_from_an_environment_file_or_credentials(
    service: dict[str, list[str]],
) -> None:
    assert "EnvironmentFile" in service or "LoadCredential" in service


# -- the notify protocol ---------------------------------------------------------------------


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short directory: a Unix socket path must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="tsd"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_notifier_sends_one_datagram_to_a_socket_path(socket_dir: Path) -> None:
    path = str(socket_dir / "notify")
    with receiver(path) as sock:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
        assert notifier.enabled
        assert notifier.notify("READY=1", "STATUS=polling 2 source(s)")
        assert sock.recv(4096) == b"READY=1\nSTATUS=polling 2 source(s)"
        assert notifier.notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notifier_sends_to_an_abstract_socket() -> None:
    name = f"ticker-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with receiver("\0" + name) as sock:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.enabled
        assert notifier.notify("STOPPING=1")
        assert sock.recv(4096) == b"STOPPING=1"


def test_notifier_does_nothing_without_notify_socket() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    assert notifier.watchdog_interval is None


def test_notifier_reports_a_missing_socket_without_raising(socket_dir: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(socket_dir / "gone")})
    assert notifier.notify("READY=1") is False


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "1000000"}, 0.5),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, None),  # another process's watchdog
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_when_the_watchdog_is_ours(
    env: dict[str, str], interval: float | None
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "/run/systemd/notify", **env})
    assert notifier.watchdog_interval == interval
