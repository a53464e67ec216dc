"""The recent lines a new line may join, indexed so that matching one costs little.

A new line is compared with the lines of other sources first seen within the story window. A
window of thousands of lines cannot be scored line by line within the poll's budget, so lines
are filed under their words' keys (:attr:`Features.keys`: any two words the score matches share
one). A new line counts, per recent line, how many of its words and figures share a key with
it; that count bounds the score (``similarity.covered_bound``), and only lines whose bound
reaches the threshold are scored. Pure: no clock (``now`` is passed in), no I/O; memory is
bounded by ``max_lines`` and by the window.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ticker.stories.similarity import (
    LONGER_WEIGHT,
    Features,
    features,
    raw_threshold,
    score_features,
    token_keys,
    update_score,
)

#: Lines held at most by default, whatever the window's length.
DEFAULT_MAX_LINES = 5000
#: Lines scored at most for one new line: those that share the most words with it. Many lines
#: alike (a flood of near-identical lines) cost a bounded number of scores, not the window.
MAX_SCORED = 12
#: A word on more lines than this, and than a sixteenth of the window, is crowded: it nominates
#: only the most recent :data:`RECENT` lines that hold it (a story's lines come close
#: together), not every one of them.
MIN_CROWDED = 64
RECENT = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """The recent line a new line joins: its story, its row, its text and the score."""

    story_id: int
    line_id: int
    text: str
    score: float
    update: bool = False  # the same event with a different figure (see update_score)


@dataclass(frozen=True, slots=True)
class _Line:
    line_id: int
    story_id: int
    source_id: str
    text: str
    first_seen: float
    features: Features
    words: int  # its words without figures, when it states figures (else 0: no update path)


class StoryWindow:
    """The lines first seen within the last ``window_seconds``, at most ``max_lines`` of them.

    Raises ValueError for a negative window or a ``max_lines`` below 1. Always holds: every line
    held is in the index under each of its keys, and nothing else is.
    """

    def __init__(self, window_seconds: float, max_lines: int = DEFAULT_MAX_LINES) -> None:
        if window_seconds < 0:
            raise ValueError(f"window_seconds must be 0 or more, got {window_seconds!r}")
        if max_lines < 1:
            raise ValueError(f"max_lines must be 1 or more, got {max_lines!r}")
        self.window_seconds = window_seconds
        self.max_lines = max_lines
        self._lines: dict[int, _Line] = {}
        # Each key's lines in the order they were added (a dict keeps it): newest last.
        self._index: defaultdict[str, dict[int, None]] = defaultdict(dict)
        # (first_seen, line_id) of every line held; entries of replaced lines are skipped.
        self._age: list[tuple[float, int]] = []
        # Each source's lines held: a crowded word's nominations skip the new line's own.
        self._by_source: defaultdict[str, set[int]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._lines)

    def add(
        self, line_id: int, story_id: int, source_id: str, text: str, first_seen: float
    ) -> None:
        """Hold a line (a line of the same id is replaced). The oldest lines go beyond
        ``max_lines``."""
        self._drop(line_id)
        f = features(text)
        words = f.size - len(f.numbers) if f.numbers else 0
        line = _Line(line_id, story_id, source_id, text, first_seen, f, words)
        self._lines[line_id] = line
        self._by_source[source_id].add(line_id)
        for key in line.features.keys:
            self._index[key][line_id] = None
        heapq.heappush(self._age, (first_seen, line_id))
        while len(self._lines) > self.max_lines:
            self._pop_oldest()

    def expire(self, now: float) -> None:
        """Drop the lines first seen before ``now - window_seconds``."""
        oldest = now - self.window_seconds
        while self._age:
            first_seen, line_id = self._age[0]
            line = self._lines.get(line_id)
            if line is not None and line.first_seen == first_seen and first_seen >= oldest:
                break
            self._pop_oldest()

    def match(
        self, source_id: str, text: str, now: float, threshold: float, *, updates: bool = False
    ) -> Match | None:
        """The best line of another source first seen within the window (``now -
        window_seconds`` to ``now``) scoring at least ``threshold`` with ``text``; None when
        there is none. Ties go to the line first seen earliest, then to the lowest id (among
        the candidates: a crowded word nominates only its recent lines). With
        ``updates``, a line whose figures differ may match on its words alone (an update of
        the story: ``Match.update``), ranked after every match whose figures agree."""
        new = features(text)
        if new.size == 0:
            return None
        # Counts by Counter.update, in C: a flood's words are on hundreds of lines each.
        covered: Counter[int] = Counter()
        index = self._index
        empty: dict[int, None] = {}
        # A crowded word (on many lines: a common word, or a flood of lines alike) would cost
        # a count for each of its lines: it nominates only its most recent ones, and counts
        # for every line in the bound below (``common``), so the bound stays an upper bound.
        crowded = max(MIN_CROWDED, len(self._lines) // 16)
        common = 0
        crowds: list[dict[int, None]] = []
        for stem, surface in new.forms:
            keys = token_keys(stem, surface)
            groups = [index.get(k, empty) for k in keys]
            hits = groups[0] if len(groups) == 1 else set().union(*groups)
            if len(hits) > crowded:
                common += 1
                crowds += groups
                continue
            covered.update(iter(hits))  # the ids: a group is a dict, not counts
        words = dict(covered) if updates and new.numbers else None
        for n in new.numbers:
            hits = index.get(f"#{n}", empty)
            if len(hits) > crowded:  # a crowded figure too (the lines of a flood share some)
                common += 1
                crowds.append(hits)
                continue
            covered.update(iter(hits))
        for line_id in self._nominate_recent(crowds, source_id).difference(covered):
            covered[line_id] = 0
        # covered_bound(count, ...) >= floor, inlined: this loop runs once per line sharing a key.
        floor = raw_threshold(threshold)
        oldest = now - self.window_seconds
        size = new.size
        new_words = size - len(new.numbers)
        lines = self._lines
        ids: Iterable[int] = covered
        flood = 2 * common >= floor * size
        if flood:
            # Crowded words count for every line in the bound: when they are half of what it
            # asks, most lines may pass it (a flood of lines alike). The lines that share the
            # most go first (then the lowest id), sorted in C, and the first MAX_SCORED that
            # pass are the ones scored. Otherwise few pass, and the MAX_SCORED that share the
            # most are picked from them.
            ranked = sorted(covered)
            ranked.sort(key=covered.__getitem__, reverse=True)  # stable: lowest id first
            ids = ranked
        candidates: list[_Line] = []
        for line_id in ids:
            count = covered[line_id]
            line = lines[line_id]
            if line.source_id == source_id or not oldest <= line.first_seen <= now:
                continue
            other = line.features.size
            lo, hi = (size, other) if size < other else (other, size)
            if count + common >= floor * (lo + LONGER_WEIGHT * (hi - lo)):
                candidates.append(line)
            elif words is not None and line.words and new_words > 0:
                # An update may match on its words alone: the bound of the words.
                lo, hi = (
                    (new_words, line.words) if new_words < line.words else (line.words, new_words)
                )
                if words.get(line_id, 0) + common >= floor * (lo + LONGER_WEIGHT * (hi - lo)):
                    candidates.append(line)
            if flood and len(candidates) == MAX_SCORED:
                break
        if len(candidates) > MAX_SCORED:
            candidates = heapq.nlargest(
                MAX_SCORED, candidates, key=lambda c: (covered[c.line_id], -c.line_id)
            )
        best: tuple[int, float, float, int] | None = None
        found: _Line | None = None
        for line in candidates:
            # Figures that differ cap the score at 0.5: such a line can only be an update.
            changed = update_score(new, line.features) if words is not None else None
            if changed is None:
                s, update = score_features(new, line.features), 0
            else:
                s, update = changed, 1
            if s < threshold:
                continue
            rank = (update, -s, line.first_seen, line.line_id)
            if best is None or rank < best:
                best, found = rank, line
        if found is None or best is None:
            return None
        return Match(
            story_id=found.story_id,
            line_id=found.line_id,
            text=found.text,
            score=-best[1],
            update=bool(best[0]),
        )

    def _nominate_recent(self, groups: list[dict[int, None]], source_id: str) -> set[int]:
        """The :data:`RECENT` most recent lines of each of ``groups`` from other sources: the
        candidates whose count is left to the bound (a source's own flood does not crowd the
        others out; at most four times as many lines of a group are looked at). The words of
        a flood share their lines: each group is read once, and in C unless it holds lines of
        ``source_id`` among its most recent."""
        nominated: set[int] = set()
        own = self._by_source.get(source_id, set())
        read: set[int] = set()
        for group in groups:
            if id(group) in read:
                continue
            read.add(id(group))
            recent = list(itertools.islice(reversed(group), RECENT))
            if not own.isdisjoint(recent):
                recent = [i for i in itertools.islice(reversed(group), 4 * RECENT) if i not in own]
                del recent[RECENT:]
            nominated.update(recent)
        return nominated

    def _pop_oldest(self) -> None:
        first_seen, line_id = heapq.heappop(self._age)
        line = self._lines.get(line_id)
        if line is not None and line.first_seen == first_seen:
            self._drop(line_id)

    def _drop(self, line_id: int) -> None:
        line = self._lines.pop(line_id, None)
        if line is None:
            return
        own = self._by_source[line.source_id]
        own.discard(line_id)
        if not own:
            del self._by_source[line.source_id]
        for key in line.features.keys:
            ids = self._index.get(key)
            if ids is not None:
                ids.pop(line_id, None)
                if not ids:
                    del self._index[key]
