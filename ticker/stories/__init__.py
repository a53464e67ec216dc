"""Stories: the lines of several outlets that report one event.

The pure core of issue 15: :mod:`~ticker.stories.similarity` scores whether two headlines report
the same event (English and Arabic), and :mod:`~ticker.stories.window` finds, among the recent
lines of other sources, the one a new line joins. No I/O and no clock here.
"""

from __future__ import annotations

from ticker.stories.similarity import (
    DEFAULT_THRESHOLD,
    Features,
    features,
    same,
    score,
    score_features,
)
from ticker.stories.window import Match, StoryWindow

__all__ = [
    "DEFAULT_THRESHOLD",
    "Features",
    "Match",
    "StoryWindow",
    "features",
    "same",
    "score",
    "score_features",
]
