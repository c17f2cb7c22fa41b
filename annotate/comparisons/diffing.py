"""A word-level diff of two outputs, for the comparison page's toggle (difflib, escaped by the
template like any model output)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
MAX_TOKENS = 20_000


def word_diff(left: str, right: str) -> list[tuple[str, str]]:
    """[(op, text)] with op "same", "del" (only left) or "ins" (only right)."""
    a, b = TOKEN.findall(left)[:MAX_TOKENS], TOKEN.findall(right)[:MAX_TOKENS]
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(b[j1:j2])))
    return out
