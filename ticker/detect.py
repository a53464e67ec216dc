"""What is new on a page, decided from what is known: pure, no clock (``now`` is an input).

The rules are README.md's "What counts as new":
- the first successful poll of a source is a baseline: recorded, never alerted (no flood on a cold
  start);
- reordering, scrolling and cosmetic changes never alert (identity is the normalized key);
- a line that left and came back within ``realert_after`` is the same event; after a longer
  absence it is a new event (tickers repeat "Sirens sound in ..." lines);
- a near-duplicate of a line that just left the page is a material edit: alerted once as an update;
  two lines that merely share a prefix are two items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from ticker.model import Detection, ItemKind, KnownItem, NewItem, PageItem
from ticker.normalize import item_key

#: Token similarity at or above which a new line is an edit of a line that just left.
EDIT_SIMILARITY = 0.75
#: An edit changes a few words; a line sharing only a prefix with another differs in many.
EDIT_MAX_CHANGED_TOKENS = 3


def keyed(page: Iterable[PageItem]) -> dict[str, PageItem]:
    """The page's items by identity key, first occurrence wins (a ticker often repeats itself)."""
    out: dict[str, PageItem] = {}
    for item in page:
        key = item_key(item.text)
        if key and key not in out:
            out[key] = item
    return out


def detect(
    *,
    page: Mapping[str, PageItem],
    known: Mapping[str, KnownItem],
    present: Iterable[str],
    recently_gone: Sequence[KnownItem],
    now: datetime,
    realert_after: timedelta,
    baseline: bool,
) -> Detection:
    """Classify one successful poll.

    ``page``: the page's items by key (see :func:`keyed`); ``known``: the latest occurrence of
    each page key the state knows; ``present``: keys the previous successful poll showed;
    ``recently_gone``: items that left within ``realert_after`` (candidates for an edit).
    """
    present_set = set(present)
    gone = tuple(k for k in present_set if k not in page)
    if baseline:
        first = tuple(
            NewItem(key=k, text=i.text, link=i.link, kind=ItemKind.BASELINE)
            for k, i in page.items()
            if k not in known
        )
        again = tuple(k for k in page if k in known)
        return Detection(
            baseline=True,
            new=first,
            seen=again,
            back=tuple(k for k in again if known[k].gone_since is not None),
            gone=gone,
            page_keys=tuple(page),
        )

    # Lines that left the page: now, or within realert_after. Only these can have been edited.
    left = {k: item for k, item in ((i.key, i) for i in recently_gone) if k not in page}
    words = {k: _words(k) for k in left}
    seen: list[str] = []
    back: list[str] = []
    new: list[NewItem] = []
    for key, item in page.items():
        prior = known.get(key)
        if prior is not None:
            away = prior.gone_since
            if away is not None and now - away > realert_after:
                new.append(NewItem(key=key, text=item.text, link=item.link, kind=ItemKind.RETURN))
            else:
                seen.append(key)
                if away is not None:
                    back.append(key)
            continue
        edited = _edited_line(key, left, words) if left else None
        if edited is not None:
            del left[edited.key]  # one edit per line that left
            new.append(
                NewItem(
                    key=key, text=item.text, link=item.link, kind=ItemKind.UPDATE, update_of=edited
                )
            )
        else:
            new.append(NewItem(key=key, text=item.text, link=item.link))
    return Detection(
        baseline=False,
        new=tuple(new),
        seen=tuple(seen),
        back=tuple(back),
        gone=gone,
        page_keys=tuple(page),
    )


def _words(key: str) -> tuple[frozenset[str], int]:
    """A key's distinct words and how many words it has."""
    tokens = key.split()
    return frozenset(tokens), len(tokens)


def _edited_line(
    key: str, left: Mapping[str, KnownItem], words: Mapping[str, tuple[frozenset[str], int]]
) -> KnownItem | None:
    best: KnownItem | None = None
    best_ratio = 0.0
    mine, size = _words(key)
    for candidate in left.values():
        theirs, their_size = words[candidate.key]
        # A cheap bound first: each changed word adds at most two to the symmetric difference
        # of the word sets, so most pairs end here without the costly sequence match.
        if len(mine ^ theirs) > 2 * EDIT_MAX_CHANGED_TOKENS:
            continue
        # Then the best ratio the sequence match could give: a word of one line missing from
        # the other is matched nowhere. Lines of one template ("Sirens sound in ...") pass the
        # first bound by the hundred; past the best so far, or short of an edit, they end here.
        same = min(size - len(mine - theirs), their_size - len(theirs - mine))
        bound = 2 * same / (size + their_size) if size + their_size else 0.0
        if bound <= best_ratio or bound < EDIT_SIMILARITY:
            continue
        ratio = edit_similarity(key, candidate.key)
        if ratio > best_ratio:
            best, best_ratio = candidate, ratio
    return best if best_ratio >= EDIT_SIMILARITY else None


def edit_similarity(a: str, b: str) -> float:
    """Token similarity of two keys, 0.0 when they differ in more than a few words.

    "4 soldiers killed in gaza" vs "5 soldiers killed in gaza" is an edit; two
    "gaza ministry of health: ..." lines with different statements are not.
    """
    ta, tb = a.split(), b.split()
    if not ta or not tb:
        return 0.0
    matcher = SequenceMatcher(a=ta, b=tb, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    changed = max(len(ta), len(tb)) - same
    if changed > EDIT_MAX_CHANGED_TOKENS:
        return 0.0
    # A changed figure ("4" -> "5 soldiers") is an edit wherever it is; other changed words
    # count only inside the line: "Sirens sound in Metula" / "... in Nahariya" are two items.
    replaced = [
        token
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
        for token in (*ta[i1:i2], *tb[j1:j2])
    ]
    figures_only = all(any(c.isdigit() for c in token) for token in replaced)
    if not figures_only and (ta[0] != tb[0] or ta[-1] != tb[-1]):
        return 0.0
    return matcher.ratio()


def is_alerting(detection: Detection) -> bool:
    """A baseline records without alerting; anything else alerts its new items."""
    return not detection.baseline and bool(detection.new)


__all__ = ["detect", "edit_similarity", "is_alerting", "keyed"]
