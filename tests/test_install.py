"""Installing ticker where its users are (issue 14).

The README's VPS steps run here as written, in a fresh virtual environment under a temporary root
(the commands are read from README.md, so README and test cannot drift); the installed unit is
checked by ``systemd-analyze verify`` against the installed paths; the distribution is named
``ticker-news``; the container files are checked as far as a machine without a Docker engine allows.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ticker

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
UNIT = REPO / "systemd" / "ticker.service"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "compose.yaml"
CONTAINER_CONFIG = REPO / "config" / "container.toml"
VPS_HEADING = "### On a VPS with systemd"
DIST = "ticker-news"
TOKEN = "0123456789abcdef0123456789abcdef"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


# -- the README's commands -------------------------------------------------------------------


def readme_block(heading: str) -> str:
    """The first ```sh block of a README section (before the section's next heading)."""
    text = README.read_text("utf-8")
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"^#{2,3} ", text[start:], re.M)  # sh comments are "# ..."
    section = text[start : start + following.start()] if following else text[start:]
    block = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert block, f"no sh block in README section {heading!r}"
    return block.group(1)


def install_modes(text: str) -> dict[str, str]:
    """``install -m MODE ... DEST`` (and ``install -d -m MODE DIR``) lines: destination -> mode."""
    modes: dict[str, str] = {}
    for m in re.finditer(r"install (-d )?-m (\d{3,4}) (?:\S+ )?(/etc/ticker\S*)", text):
        modes[m.group(3)] = m.group(2)
    return modes


def local_script(block: str, root: Path) -> str:
    """The README's commands for a machine without root or systemd as PID 1.

    Paths under /opt and /etc move under ``root``; ``sudo`` goes; apt-get and systemctl lines go.
    The venv sees this Python's site-packages (``--system-site-packages``), where ticker's
    dependencies are already installed, so pip resolves them there instead of downloading and
    building all of them (google-re2, brotli, lxml ...) on every CI run; ticker itself is still
    built and installed into the fresh venv by the README's own ``pip install .``.
    """
    lines = []
    for raw in block.splitlines():
        if re.search(r"\b(systemctl|apt-get)\b", raw):
            continue
        line = re.sub(r"\bsudo\s+", "", raw)
        line = line.replace("/opt/ticker", f"{root}/opt/ticker").replace("/etc/", f"{root}/etc/")
        line = re.sub(
            r"^python3 -m venv ",
            f"{shlex.quote(sys.executable)} -m venv --system-site-packages ",
            line,
        )
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Installed:
    root: Path
    venv: Path
    output: str

    @property
    def ticker(self) -> Path:
        return self.venv / "bin" / "ticker"


def copy_checkout(dest: Path) -> Path:
    """The checkout without build output, caches and state: ``pip install .`` builds in place."""
    shutil.copytree(
        REPO,
        dest,
        ignore=shutil.ignore_patterns(
            ".git", "__pycache__", "*.egg-info", "build", "dist", ".venv", "*_cache",
            ".hypothesis", "*.db", "*.db-*", "artifacts", "ticker.env",
        ),
    )  # fmt: skip
    return dest


def venv_path(block: str) -> str:
    m = re.search(r"-m venv (\S+)", block)
    assert m, "the VPS steps create no virtual environment"
    return m.group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    block = readme_block(VPS_HEADING)
    root = tmp_path_factory.mktemp("vps")
    (root / "etc" / "systemd" / "system").mkdir(parents=True)  # present on any systemd machine
    checkout = copy_checkout(root / "checkout")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(
        ["sh", "-e", "-x", "-c", local_script(block, root)],
        capture_output=True,
        text=True,
        cwd=checkout,
        env=env,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return Installed(root, root / venv_path(block).lstrip("/"), output)


def test_the_vps_steps_use_a_virtual_environment_not_the_system_python() -> None:
    """Debian 12 and Ubuntu 24.04 refuse ``pip install`` outside a venv (externally managed)."""
    block = readme_block(VPS_HEADING)
    assert not re.search(r"python3 -m pip install", block), block
    venv = venv_path(block)
    assert f"{venv}/bin/pip install" in block
    assert f"{venv}/bin/ticker validate" in block
    assert "python3-venv" in block  # Debian's python3 lacks ensurepip without it


def test_the_readme_vps_steps_install_a_working_ticker(installed: Installed) -> None:
    venv_python = installed.venv / "bin" / "python"
    where = subprocess.run(
        [str(venv_python), "-c", "import ticker; print(ticker.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=installed.root,  # not a directory holding ticker/
        check=True,
    ).stdout.strip()
    assert where.startswith(str(installed.venv)), where  # the venv's copy, not the checkout's

    help_ = subprocess.run(
        [str(installed.ticker), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert help_.returncode == 0, help_.stderr
    assert "validate" in help_.stdout

    config = installed.root / "etc" / "ticker" / "ticker.toml"
    check = subprocess.run(
        [str(installed.ticker), "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=installed.root,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_installed_files_follow_one_recipe_readable_by_a_dynamic_user(
    installed: Installed,
) -> None:
    """DynamicUser= runs ticker as a transient user: the configuration must be world-readable
    (it holds ${VARS}, no secrets); the secrets file is root's alone, read by systemd (as root)."""
    etc = installed.root / "etc" / "ticker"
    modes = {
        p.name: stat.S_IMODE(p.stat().st_mode)
        for p in (etc, etc / "ticker.toml", etc / "ticker.env")
    }
    assert modes == {"ticker": 0o755, "ticker.toml": 0o644, "ticker.env": 0o600}


def test_the_unit_header_and_the_readme_give_the_same_recipe() -> None:
    header = "\n".join(
        line for line in UNIT.read_text("utf-8").splitlines() if line.startswith("#")
    )
    expected = {
        "/etc/ticker": "755",
        "/etc/ticker/ticker.toml": "644",
        "/etc/ticker/ticker.env": "600",
    }
    assert install_modes(readme_block(VPS_HEADING)) == expected
    assert install_modes(header) == expected


# -- the distribution ------------------------------------------------------------------------


def test_the_distribution_is_named_ticker_news() -> None:
    """``ticker`` on the package index is an unrelated 2014 project."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["name"] == DIST
    assert project["scripts"] == {"ticker": "ticker.cli:main"}  # the command stays ticker
    old_name = re.compile(r"""(version|distribution|metadata)\(\s*["']ticker["']""")
    for path in [*(REPO / "ticker").rglob("*.py"), *(REPO / "bench").rglob("*.py")]:
        assert not old_name.search(path.read_text("utf-8")), f"{path} reads the old name"


def test_the_installed_distribution_is_ticker_news(installed: Installed) -> None:
    code = (
        "import importlib.metadata as m, json; d = m.distribution('ticker-news');"
        "print(json.dumps([m.version('ticker-news'), d.read_text('entry_points.txt')]))"
    )
    proc = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    version, entry_points = json.loads(proc.stdout)
    assert version == ticker.__version__
    assert "ticker = ticker.cli:main" in entry_points


# -- the unit against the installed paths ----------------------------------------------------


def exec_start_binary(unit: Path) -> str:
    m = re.search(r"^ExecStart=[-@:+!]*(\S+)", unit.read_text("utf-8"), re.M)
    assert m, f"no ExecStart= in {unit}"
    return m.group(1)


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=unit.parent,
        check=False,
    )


def test_the_unit_runs_the_command_the_readme_installs() -> None:
    assert exec_start_binary(UNIT) == f"{venv_path(readme_block(VPS_HEADING))}/bin/ticker"


@needs_analyze
def test_the_installed_unit_verifies_against_the_installed_paths(installed: Installed) -> None:
    """``systemd-analyze verify`` checks that ExecStart's binary is executable and every
    directive is known; with PID 1 not systemd this is as far as a unit can be checked."""
    text = (installed.root / "etc" / "systemd" / "system" / "ticker.service").read_text("utf-8")
    root = str(installed.root)
    unit = installed.root / "ticker.service"
    unit.write_text(
        text.replace("/opt/ticker/", f"{root}/opt/ticker/").replace(
            "/etc/ticker/", f"{root}/etc/ticker/"
        ),
        "utf-8",
    )
    binary = Path(exec_start_binary(unit))
    assert binary == installed.ticker
    assert binary.is_file()
    assert os.access(binary, os.X_OK)
    proc = verify(unit)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert not re.search(r"Unknown|ignoring|Failed to parse|not executable", output), output


@needs_analyze
def test_verify_fails_a_unit_whose_binary_is_missing(tmp_path: Path) -> None:
    """The check above measures something: a unit pointing where nothing is installed fails."""
    unit = tmp_path / "ticker.service"
    unit.write_text(
        UNIT.read_text("utf-8").replace(exec_start_binary(UNIT), str(tmp_path / "no" / "ticker")),
        "utf-8",
    )
    proc = verify(unit)
    assert proc.returncode != 0
    assert "not executable" in proc.stdout + proc.stderr


# -- the container ---------------------------------------------------------------------------


def dockerfile_instructions(*, final: bool = True) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile (its final stage), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text("utf-8"))
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM" and final:
            out = []
        out.append((word.upper(), rest.strip()))
    return out


def test_the_image_runs_as_a_non_root_user_with_state_in_a_volume() -> None:
    final = dockerfile_instructions()
    assert re.match(r"python:3\.1[1-9]-slim\b", final[0][1]), final[0]
    users = [arg for word, arg in final if word == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    volumes = " ".join(arg for word, arg in final if word == "VOLUME")
    assert "/var/lib/ticker" in volumes
    entry = " ".join(arg for word, arg in final if word in ("ENTRYPOINT", "CMD"))
    assert "ticker" in entry
    assert "run" in entry


def healthcheck_command() -> list[str]:
    checks = [arg for word, arg in dockerfile_instructions() if word == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK"
    m = re.search(r"\bCMD (\[.*\])\s*$", checks[-1])
    assert m, f"HEALTHCHECK is not an exec-form CMD: {checks[-1]}"
    command: list[str] = json.loads(m.group(1))
    return command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    """A real ``ticker run`` whose endpoint needs the token; yields its /healthz URL."""
    port = free_port()
    config = tmp_path / "ticker.toml"
    config.write_text(
        f'[service]\nstate = "{tmp_path}/ticker.db"\nlisten = "127.0.0.1:{port}"\n'
        'token = "${TICKER_TOKEN}"\n\n'
        # a refused source: one failed poll leaves /healthz at 200 (failing needs 5)
        '[[sources]]\nid = "s"\nurl = "http://127.0.0.1:9/"\nitems = "css:li"\n'
        'interval = "1h"\n',
        "utf-8",
    )
    log = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticker", "run", "-c", str(config), "--log-format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "TICKER_TOKEN": TOKEN},
    )
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
            try:
                with urllib.request.urlopen(req, timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the endpoint did not come up"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_the_healthcheck_passes_on_a_healthy_endpoint_and_fails_without_the_token(
    endpoint: str,
) -> None:
    """The image's HEALTHCHECK, run as written (with this Python) against a real endpoint."""
    command = healthcheck_command()
    assert command[0] in ("python", "python3", "/opt/ticker/bin/python")
    command[0] = sys.executable
    base = {k: v for k, v in os.environ.items() if k != "TICKER_TOKEN"}

    def check(**env: str) -> int:
        return subprocess.run(
            command, env={**base, **env}, capture_output=True, timeout=30, check=False
        ).returncode

    assert check(TICKER_HEALTHZ_URL=endpoint, TICKER_TOKEN=TOKEN) == 0
    assert check(TICKER_HEALTHZ_URL=endpoint, TICKER_TOKEN="x" * 32) != 0  # 401: unhealthy
    assert check(TICKER_HEALTHZ_URL=endpoint) != 0
    closed = endpoint.rsplit(":", 1)[0] + f":{free_port()}/healthz"
    assert check(TICKER_HEALTHZ_URL=closed, TICKER_TOKEN=TOKEN) != 0  # nothing listening


def test_the_container_configuration_validates(tmp_path: Path) -> None:
    """The image's configuration listens on all interfaces, so it needs allow_remote and a token."""
    proc = subprocess.run(
        [sys.executable, "-m", "ticker", "validate", "-c", str(CONTAINER_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TICKER_TOKEN": TOKEN, "STATE_DIRECTORY": str(tmp_path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = CONTAINER_CONFIG.read_text("utf-8")
    assert re.search(r'^listen = "0\.0\.0\.0:8787"', text, re.M)


def test_the_docker_context_holds_only_what_the_image_copies() -> None:
    """Secrets (ticker.env), state and .git stay out of the build context."""
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    sources: list[str] = []
    for word, arg in dockerfile_instructions(final=False):
        if word == "COPY" and "--from" not in arg:
            sources += [s for s in arg.split()[:-1] if not s.startswith("--")]
    assert sources
    for source in sources:
        assert source.rstrip("/") in allowed, f"COPY {source} is not let into the context"
    assert not any("ticker.env" in a or a in (".git", "*.db") for a in allowed)


def test_compose_publishes_on_loopback_with_a_state_volume_and_an_env_file() -> None:
    yaml = pytest.importorskip("yaml")
    service = yaml.safe_load(COMPOSE.read_text("utf-8"))["services"]["ticker"]
    assert service["ports"]
    for port in service["ports"]:
        assert str(port).startswith("127.0.0.1:"), port
    assert any(str(v).endswith(":/var/lib/ticker") for v in service["volumes"])
    assert service["env_file"]
