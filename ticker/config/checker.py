"""What every part of the configuration needs: problems collected by key path instead of a stop
at the first, and the checks of a table, an array of tables, a key and a reference."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ticker.config import values
from ticker.errors import Problem

T = TypeVar("T")


class Checker:
    """Collects problems; ``ConfigError(checker.problems)`` reports them all at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(path=where, message=message))

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.problem(values.join(where, key), f"unknown key {key!r}{hint}")

    def table(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(values.join(where, key), f"expected a table, got {values.kind(value)}")
            return {}
        return value

    def tables(self, value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(
                where, f"expected an array of tables ([[{where}]]), got {values.kind(value)}"
            )
            return []
        return value

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        convert: Callable[[Any], T],
        default: T,
    ) -> T:
        if key not in table:
            return default
        try:
            return convert(table[key])
        except (ValueError, TypeError) as exc:
            self.problem(values.join(where, key), str(exc))
            return default

    @staticmethod
    def unknown_ref(what: str, name: object, known: Mapping[str, Any] | set[str]) -> str:
        close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        names = ", ".join(sorted(known)) or "none"
        return f"unknown {what} {name!r}{hint} (known: {names})"
