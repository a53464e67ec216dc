"""README's offline demo, run as a reader would paste it: it prints the one new line and stops
the page server it started."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _demo_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if "config/local.toml" in b and "http.server" in b]
    return block


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_offline_demo_prints_the_new_line_and_stops_its_server(tmp_path: Path) -> None:
    port = _free_port()
    config = (ROOT / "config" / "local.toml").read_text(encoding="utf-8")
    (tmp_path / "local.toml").write_text(config.replace(":8000/", f":{port}/"), encoding="utf-8")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "tests/data/almayadeen-en.html", tmp_path / "tests/data")
    pages = tmp_path / "pages"
    pages.mkdir()
    script = (
        _demo_block()
        .replace("/tmp/index.html", f"{pages}/index.html")
        .replace("--directory /tmp", f"--directory {pages}")
        .replace("8000", str(port))
        .replace("config/local.toml", str(tmp_path / "local.toml"))
        .replace("python3 ", f"{sys.executable} ")
        .replace("ticker once", f"{sys.executable} -m ticker once")
    )
    # The server needs a moment to listen before the first pass: a reader types slower.
    script = script.replace("server=$!", f"server=$!\n{_wait_for(port)}")
    # http.server's Last-Modified has one-second resolution: an edit in the same second as the
    # copy would be a 304 to the second pass. A reader's edit comes seconds later.
    script = script.replace("sed -i", "sleep 1.1; sed -i", 1)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line["text"] for line in lines] == ["Sirens sound in Metula"]
    assert _closes(port), "the demo left its page server running"


def _closes(port: int, seconds: float = 10.0) -> bool:
    """The port stops accepting within ``seconds`` (a killed server takes a moment to go)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.1)
    return False


def _wait_for(port: int) -> str:
    return (
        f"for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; "
        "sleep 0.1; done"
    )
