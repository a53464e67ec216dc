"""The documentation's examples work: every ```toml block of README.md and docs/*.md and every
config/*.toml parses, and each complete one (with [[sources]]) passes ``ticker validate``, run
as a reader would run it, with dummy values in the environment for its ${VARS}."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Values shaped like real ones, so apprise accepts the URLs they go into (it checks a Telegram
# token's form, for one); any other variable gets "dummy".
DUMMIES = {
    "TG_TOKEN": "123456789:AAHdummyDummyDummyDummyDummyDummyDu",
    "TG_CHAT": "-100123456",
    "TICKER_TOKEN": "0123456789abcdef0123456789abcdef",
}
VARIABLE = re.compile(r"\$\{(?!cred:)([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Example:
    where: str
    text: str

    @property
    def complete(self) -> bool:
        return bool(re.search(r"^\[\[sources\]\]", self.text, re.M))


def examples() -> list[Example]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        blocks = re.findall(r"^```toml\n(.*?)^```", doc.read_text("utf-8"), re.S | re.M)
        found += [Example(f"{doc.name}[{n}]", b) for n, b in enumerate(blocks)]
    for config in sorted((ROOT / "config").glob("*.toml")):
        found.append(Example(f"config/{config.name}", config.read_text("utf-8")))
    return found


EXAMPLES = examples()
COMPLETE = [e for e in EXAMPLES if e.complete]


def test_the_documents_hold_examples_to_check() -> None:
    """A change to how blocks are found must not leave this file checking nothing."""
    assert sum(e.where.startswith("README") for e in EXAMPLES) >= 4
    assert sum(e.where.startswith("README") for e in COMPLETE) >= 2
    assert sum(e.where.startswith("config/") for e in COMPLETE) == 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_every_toml_example_parses(example: Example) -> None:
    tomllib.loads(example.text)


@pytest.mark.parametrize("example", COMPLETE, ids=[e.where for e in COMPLETE])
def test_every_complete_example_passes_validate(example: Example, tmp_path: Path) -> None:
    if "${cred:" in example.text:
        pytest.skip("reads a systemd credential")  # none does today; a secret it cannot fake
    config = tmp_path / "ticker.toml"
    config.write_text(example.text, encoding="utf-8")
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKER_", "TG_", "SMTP_"))}
    env |= {name: DUMMIES.get(name, "dummy") for name in VARIABLE.findall(example.text)}
    env["STATE_DIRECTORY"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ticker", "validate", "-c", str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{example.where}:\n{done.stdout}{done.stderr}"


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md's tree lists each module of the package once, where it is, so the
    page a newcomer reads first does not drift from the code."""
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    block = text.split("```\nticker/\n", 1)[1].split("```", 1)[0]
    listed: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        name = line.strip().split()[0] if line.strip() else ""
        if not name:
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([p for _, p in stack] + [name.rstrip("/")])
        if name.endswith("/"):
            stack.append((indent, name.rstrip("/")))
        else:
            listed.add(path)
    package = ROOT / "ticker"
    modules = {
        str(f.relative_to(package)) for f in package.rglob("*.py") if "__pycache__" not in f.parts
    }
    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(p for p in listed - modules if p.endswith(".py")) == [], "listed, not there"
