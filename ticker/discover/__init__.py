"""Finding the ticker on a news page: ``ticker discover``'s pure core.

``discover`` ranks the candidates of one page (the static pass over its HTML and the JSON its
scripts carry); ``endpoint_hints``, ``script_bundles`` and ``script_endpoints`` (in a bundle's
text) name what the command may fetch next, and ``judge_body`` says whether a fetched JSON body
holds a ticker. No I/O and no clock; every pass is bounded in nodes, characters and JSON size,
so a hostile page cannot run long.
"""

from __future__ import annotations

from collections.abc import Sequence

from ticker.discover.candidate import PROPOSE, Candidate
from ticker.discover.jsonlists import judge_body
from ticker.discover.parsing import MAX_PAGE_CHARS, parse
from ticker.discover.pin import pin, pinned_from_page
from ticker.discover.scripts import (
    endpoint_hints,
    script_bundles,
    script_candidates,
    script_endpoints,
)
from ticker.discover.static import dedupe, index_page, static_candidates

__all__ = [
    "MAX_PAGE_CHARS",
    "PROPOSE",
    "Candidate",
    "discover",
    "endpoint_hints",
    "judge_body",
    "script_bundles",
    "script_endpoints",
]

MAX_CANDIDATES = 10


def discover(page: str, base_url: str, expect: Sequence[str] = ()) -> list[Candidate]:
    """The ticker candidates of an HTML page, best first (at most MAX_CANDIDATES).

    A candidate with ``confidence >= PROPOSE`` is proposed. With ``expect`` (lines a person
    sees on the ticker now), the candidate holding them comes first at high confidence.
    Never raises for a page that is not HTML or holds no ticker: it returns ``[]``.
    """
    parsed = parse(page)
    found = static_candidates(parsed, base_url)
    found += script_candidates(parsed.root, expect, base_url)
    ranked = dedupe(found)
    wanted = [e for e in expect if e.strip()]
    if wanted:
        ranked = pin(ranked, wanted)
        if not ranked or ranked[0].confidence < 0.97:
            built = pinned_from_page(parsed, index_page(parsed.root), wanted, base_url)
            if built is not None:
                ranked = [built, *(c for c in ranked if c.lines != built.lines)]
    return ranked[:MAX_CANDIDATES]
