"""The shared data beside the repository (``../shared``: real pages, page fixtures), found from
the repository root rather than an absolute path.

A test over it skips where it is absent (a checkout on its own), but fails in CI (the
environment variable ``CI`` set): a skip there would pass a run that checked nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()


def shared_files(folder: str, pattern: str = "*.html") -> list[Path]:
    """The files of ``../shared/FOLDER``; where it is absent, one path inside it that does not
    exist, so that a test parametrized over them reaches :func:`need` (an empty parameter set
    would be skipped without a word, even in CI)."""
    where = SHARED / folder
    files = sorted(where.glob(pattern)) if where.is_dir() else []
    return files or [where / pattern]


def need(path: Path) -> Path:
    """``path`` when it exists; else skip the test, or fail it in CI, naming what is missing."""
    if path.exists():
        return path
    message = f"{path} is not present (the shared data beside the repository, {SHARED})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
