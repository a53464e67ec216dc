"""A proposed ticker: the selectors that read it, the lines they read now, and how sure we are.

A candidate is only ever built from selectors that compiled and were run through ticker's own
extraction: its ``lines`` are what ``ticker once`` would read with them, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: At and above this confidence a candidate is proposed; below it, only shown.
PROPOSE = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One candidate ticker.

    ``items``, ``text``, ``link`` and ``canary`` are selectors in the configuration's syntax
    (``css:``, ``xpath:``, ``jmespath:``). ``kind`` is ``"html"`` or ``"json"``. A ``json``
    candidate found inside an HTML page names in ``embedded`` the script element that holds the
    JSON (and in ``variable`` the JavaScript name assigned, for ``window.X = {...}``): ticker
    reads such a source only once the JSON is taken out of that script.
    """

    items: str
    text: str | None
    link: str | None
    canary: str | None
    lines: tuple[str, ...]
    confidence: float
    kind: str
    embedded: str | None = None
    variable: str | None = None
    # An endpoint (kind "endpoint"): the plain-HTTP request that returns the ticker's JSON.
    url: str | None = None
    method: str | None = None
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # Why it ranks where it does, for a person reading --verbose output; not part of the JSON.
    reasons: tuple[str, ...] = field(default=(), compare=False)

    @property
    def proposed(self) -> bool:
        return self.confidence >= PROPOSE

    def as_json(self) -> dict[str, Any]:
        """The candidate as ``ticker discover --json`` prints it (product.md)."""
        out: dict[str, Any] = {
            "items": self.items,
            "text": self.text,
            "link": self.link,
            "canary": self.canary,
            "lines": list(self.lines),
            "confidence": round(self.confidence, 3),
            "kind": self.kind,
        }
        if self.embedded is not None:
            # The source keys that read JSON out of a script of the page.
            out["json_in"] = self.embedded
            if self.variable is not None:
                out["json_var"] = self.variable
        if self.kind in ("endpoint", "render"):
            out["url"] = self.url
            out["method"] = self.method or "GET"
            out["body"] = self.body
            out["headers"] = dict(self.headers)
        return out
