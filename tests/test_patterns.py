"""Route patterns run in linear time with Python's meaning (ticker/patterns.py)."""

from __future__ import annotations

import re
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticker.patterns import PatternError, compile_linear

TEXTS = [
    "",
    "Breaking: Israeli strike kills 5 in southern Lebanon",
    "gaza GAZA Gaza",
    "عاجل: غارة على جنوب لبنان",
    "Ölpreis steigt ÉCOLE école",
    "line one\nline two\n",
    "tabs\tand\u00a0nbsp\u2003em space",
    "digits ٣ 3 ۴",
    "snake_case and x-y",
    "a" * 40 + "!",
]

PATTERNS = [
    r"(?i)gaza|lebanon",
    r"(?i)sports",
    r"\w+ killed",
    r"^Breaking:",
    r"Lebanon$",
    r"two$",
    r"(?m)^line two$",
    r"\d+",
    r"\d",
    r"\s\S",
    r"[\w]+_",
    r"[^\w\s]",
    r"[\W]",
    r"[a\W]",
    r"(?:\W|x)",
    r"[\W\S]",
    r"[^\W]",
    r"\W",
    r"[a-c\d]{2}",
    r"x{0,2}y?",
    r"(?i)école",
    r"(?i)ÉCOLE",
    r"غارة|قصف",
    r"(?i:GAZA) Gaza",
    r"(?s)one.line",
    r"one.line",
    r"\bgaza\b",
    r"\Bstrike",
    r"\Aline",
    r"two\n\Z",
    r"a{3,5}?!",
    r"(?:kills|killed) \d",
    r"[\u00a0]",
    r"(?a)\w+",
    r"(?x) gaza  # a comment",
    r"[.]",
    r"\.",
    r"\x41|\u0628",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_answer_as_python(pattern: str) -> None:
    compiled = compile_linear(pattern)
    python = re.compile(pattern)
    for text in TEXTS:
        assert compiled.search(text) == bool(python.search(text)), (pattern, text)


@pytest.mark.parametrize(("escape", "predicate"), [
    ("\\w", lambda c: c.isalnum() or c == "_"),
    ("\\d", str.isdecimal),
    ("\\s", str.isspace),
])  # fmt: skip
def test_classes_match_python_on_every_bmp_character(escape: str, predicate: object) -> None:
    """RE2's \\w is ASCII; ticker rewrites it so Arabic letters stay word characters."""
    linear = compile_linear(f"^{escape}$")
    python = re.compile(f"^{escape}$")
    wrong = [
        hex(code)
        for code in range(0x10000)
        if not 0xD800 <= code <= 0xDFFF
        and linear.search(chr(code)) != bool(python.search(chr(code)))
    ]
    assert wrong == []


_ATOMS = st.sampled_from(["a", "b", "ب", "\\w", "\\d", "\\s", ".", "[ab]", "[^a]", "\\W"])


@st.composite
def _patterns(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 4 if depth < 2 else 1))
        if kind <= 1:
            parts.append(draw(_ATOMS))
        elif kind == 2:
            parts.append(f"(?:{draw(_patterns(depth + 1))}){draw(st.sampled_from('*+?'))}")
        elif kind == 3:
            parts.append(f"(?:{draw(_patterns(depth + 1))}|{draw(_patterns(depth + 1))})")
        else:
            parts.append(f"{draw(_ATOMS)}{{{draw(st.integers(0, 2))},{draw(st.integers(2, 3))}}}")
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(_patterns(), st.text(alphabet="ab ب٣3_\n.", max_size=12))
def test_random_patterns_agree_with_python(pattern: str, text: str) -> None:
    assert compile_linear(pattern).search(text) == bool(re.search(pattern, text))


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(a+)+$", "a" * 50 + "!"),
        (r"([\w\s]|[\w\s])*@", "word " * 4000),
        (r"(\w*\s*)*x", "غزة " * 4000),
        (r"(?i)(.*a){20}", "a" * 5000),
    ],
)
def test_patterns_that_freeze_python_return_at_once(pattern: str, text: str) -> None:
    # Python's re would run for years on these; a generous bound is only a hang check.
    compiled = compile_linear(pattern)
    started = time.perf_counter()
    assert compiled.search(text) in (True, False)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(?=gaza)", "lookahead"),
        (r"(?<!not )gaza", "lookahead or lookbehind"),
        (r"(a)\1", "backreference"),
        (r"(?>a+)b", "atomic group"),
        (r"a++", "possessive"),
        (r"(a)?(?(1)b|c)", "conditional"),
        (r"\bغزة\b", "non-ASCII word"),
        (r"[^\W\d]", "character class"),
        (r"[^\Wa]", "character class"),
        (r"a{2000}", "above {1000}"),
        (r"(unclosed", "missing )"),
    ],
)
def test_refused_with_a_reason(pattern: str, words: str) -> None:
    with pytest.raises(PatternError, match=re.escape(words)):
        compile_linear(pattern)


def test_literals_cannot_become_syntax() -> None:
    # Every literal is written as \x{..}: a user's "}" or "\\" is never RE2 syntax.
    for pattern in [r"\}", r"\{", r"\\x{41}", r"a\]b", "\\\\", r"\[x\]"]:
        python = re.compile(pattern)
        linear = compile_linear(pattern)
        for text in ["}", "{", "\\x{41}", "a]b", "\\", "[x]", "A"]:
            assert linear.search(text) == bool(python.search(text)), (pattern, text)


def test_no_engine_noise_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PatternError):
        compile_linear("a{2000}")
    sys.stderr.flush()
    assert "re2" not in capfd.readouterr().err.lower()
