"""Route patterns that run in linear time, whatever text they meet.

A route's ``match``/``exclude`` is written in Python's regex syntax (the contract), but Python's
``re`` backtracks: ``(a+)+$`` against a 50-character line never ends, and it would freeze every
poll that meets such a line, again after each restart. So a pattern is parsed by Python's own
parser (the syntax and its errors stay Python's) and rewritten for RE2, an automaton engine whose
time is linear in the text. What RE2 cannot run in linear time (lookarounds, backreferences,
atomic groups, possessive repeats) is refused when the configuration loads, with a message that
says why. Python's Unicode classes are kept: ``\\w`` matches Arabic letters as in ``re``.

Known difference: ``\\b`` is RE2's ASCII word boundary, so a pattern that puts ``\\b`` next to a
non-ASCII letter is refused rather than silently never matching.
"""

from __future__ import annotations

import re
import re._constants as C  # the parser's node names (stable since 3.11)
import re._parser as P
from dataclasses import dataclass
from typing import Any

# Python's str classes, in RE2's class syntax (checked against str methods in the tests).
_WORD = r"\p{L}\p{N}_"  # str.isalnum() or "_"
_DIGIT = r"\p{Nd}"  # str.isdecimal()
_SPACE = r"\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\p{Z}"  # str.isspace()
_ASCII = {"word": "0-9A-Za-z_", "digit": "0-9", "space": r"\t\n\x{0b}\f\r "}
_UNICODE = {"word": _WORD, "digit": _DIGIT, "space": _SPACE}
_CATEGORIES = {
    C.CATEGORY_DIGIT: ("digit", False),
    C.CATEGORY_NOT_DIGIT: ("digit", True),
    C.CATEGORY_WORD: ("word", False),
    C.CATEGORY_NOT_WORD: ("word", True),
    C.CATEGORY_SPACE: ("space", False),
    C.CATEGORY_NOT_SPACE: ("space", True),
}
_REFUSED = {
    C.ASSERT: "a lookahead or lookbehind",
    C.ASSERT_NOT: "a negative lookahead or lookbehind",
    C.GROUPREF: "a backreference",
    C.GROUPREF_EXISTS: "a conditional group",
    C.ATOMIC_GROUP: "an atomic group",
    C.POSSESSIVE_REPEAT: "a possessive repeat",
}
RE2_MAX_REPEAT = 1000  # RE2 refuses a counted repeat above this


class PatternError(ValueError):
    """A pattern that is not valid Python regex syntax, or cannot run in linear time."""


@dataclass(frozen=True, slots=True)
class LinearPattern:
    """A compiled pattern: ``search(text)`` is truthy when it occurs in ``text``."""

    pattern: str  # as the user wrote it
    re2_pattern: str
    _compiled: Any

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None


def compile_linear(pattern: str) -> LinearPattern:
    """Compile a Python-syntax regex to run in linear time.

    Raises PatternError with a message fit for the user: Python's own syntax error, or which
    construct would need backtracking and what to write instead.
    """
    try:
        parsed = P.parse(pattern, 0)
    except re.error as exc:
        raise PatternError(str(exc)) from None
    flags = parsed.state.flags
    writer = _Writer(ascii=bool(flags & re.ASCII), multiline=bool(flags & re.MULTILINE))
    body = writer.seq(parsed.data)
    prefix = _flag_letters(flags)
    re2_pattern = f"(?{prefix}){body}" if prefix else body
    if writer.boundary and any(ord(c) > 127 and c.isalnum() for c in pattern):
        raise PatternError(
            "it puts \\b beside a non-ASCII word, which is not supported (ticker's linear-time "
            "engine knows ASCII word boundaries only); write (?:^|\\W) and (?:\\W|$) around the "
            "word instead"
        )
    import re2  # imported on first use: --help and commands without routes never load it

    options = re2.Options()
    options.log_errors = False  # the error is ours to word, not printed to stderr by absl
    try:
        compiled = re2.compile(re2_pattern, options)
    except re2.error as exc:  # e.g. a pattern too large for RE2's memory budget
        raise PatternError(f"RE2 cannot run it in linear time: {exc}") from None
    return LinearPattern(pattern, re2_pattern, compiled)


class _Writer:
    """Python's parse tree -> RE2 syntax. Every literal is written as ``\\x{hex}``, so no
    character of the user's can be read by RE2 as syntax."""

    def __init__(self, *, ascii: bool, multiline: bool) -> None:
        self.classes = _ASCII if ascii else _UNICODE
        self.multiline = multiline
        self.boundary = False

    def seq(self, items: Any) -> str:
        return "".join(self.node(op, av) for op, av in items)

    def node(self, op: Any, av: Any) -> str:
        if op in _REFUSED:
            raise PatternError(
                f"it uses {_REFUSED[op]}, which needs a backtracking engine; ticker runs route "
                "patterns in linear time (RE2) so that no line can freeze it: rewrite the "
                "pattern without it"
            )
        if op is C.LITERAL:
            return _char(av)
        if op is C.NOT_LITERAL:
            return f"[^{_char(av)}]"
        if op is C.ANY:
            return "."
        if op is C.IN:
            return self.klass(av)
        if op is C.BRANCH:
            return "(?:" + "|".join(self.seq(b) for b in av[1]) + ")"
        if op is C.SUBPATTERN:
            _group, add, remove, sub = av
            on, off = _flag_letters(add), _flag_letters(remove)
            if (add | remove) & ~(re.IGNORECASE | re.DOTALL):
                raise PatternError("scoped flags other than i and s are not supported here")
            flags = on + (f"-{off}" if off else "")
            return f"(?{flags}:{self.seq(sub)})"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, sub = av
            if low > RE2_MAX_REPEAT or (high != C.MAXREPEAT and high > RE2_MAX_REPEAT):
                raise PatternError(f"a counted repeat above {{{RE2_MAX_REPEAT}}} is not supported")
            lazy = "?" if op is C.MIN_REPEAT else ""
            return f"(?:{self.seq(sub)}){_count(low, high)}{lazy}"
        if op is C.AT:
            return self.anchor(av)
        raise PatternError(f"it uses {op}, which ticker's linear-time engine does not support")

    def anchor(self, at: Any) -> str:
        if at is C.AT_BEGINNING:
            return "(?m:^)" if self.multiline else r"\A"
        if at is C.AT_BEGINNING_STRING:
            return r"\A"
        if at is C.AT_END:
            # Python's $ also matches before a final newline.
            return "(?m:$)" if self.multiline else r"(?:\n?\z)"
        if at is C.AT_END_STRING:
            return r"\z"
        self.boundary = True
        return r"\b" if at is C.AT_BOUNDARY else r"\B"

    def klass(self, items: Any) -> str:
        negate = False
        parts: list[str] = []
        negated_classes: list[str] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                parts.append(_char(av))
            elif op is C.RANGE:
                parts.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op is C.CATEGORY:
                name, inverted = _CATEGORIES[av]
                if inverted and name == "digit" and self.classes is _UNICODE:
                    parts.append(r"\P{Nd}")
                elif inverted:
                    negated_classes.append(self.classes[name])
                else:
                    parts.append(self.classes[name])
            else:
                raise PatternError(f"it uses {op} in a character class, which is not supported")
        if negated_classes:
            # RE2 cannot write "\W or x" inside one class (Python's parser makes [x\W] of
            # x|\W too): the union becomes an alternation of classes.
            if negate:
                if parts or len(negated_classes) > 1:
                    raise PatternError(
                        "it negates a character class holding \\W or \\S (or \\D with re.ASCII) "
                        "beside other members, which is not supported; write the class out"
                    )
                return f"[{negated_classes[0]}]"
            options = [f"[^{c}]" for c in negated_classes]
            if parts:
                options.append(f"[{''.join(parts)}]")
            return options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"
        return f"[{'^' if negate else ''}{''.join(parts)}]"


def _flag_letters(flags: int) -> str:
    """RE2's letters for the inline flags it shares with Python (i, s)."""
    return "".join(f for f, bit in (("i", re.IGNORECASE), ("s", re.DOTALL)) if flags & bit)


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _count(low: int, high: int) -> str:
    if high == C.MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"
