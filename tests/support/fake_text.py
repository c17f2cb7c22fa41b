"""The "model" of the fake API servers: a deterministic answer to a prompt.

The answer to a prompt is "Reply to: " followed by the words of the prompt, then `filler_words`
words taken from a fixed list at an offset set by the prompt's CRC-32, so the same request
always gets the same answer, in every process. A token is a whitespace-separated word: each
streamed text delta is one word (with its leading space), `max_tokens` counts words, and input
tokens are the words of the system prompt and of every message.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# fmt: off
FILLER = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
)
# fmt: on


@dataclass(frozen=True)
class Completion:
    """A planned answer: the text deltas to send and why the answer stops."""

    pieces: tuple[str, ...]
    stop_reason: str  # end_turn | max_tokens | stop_sequence
    stop_sequence: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def output_tokens(self) -> int:
        return len(self.pieces)


def reply_words(prompt: str, filler_words: int) -> list[str]:
    """The words of the full answer to `prompt`, before max_tokens and stop sequences."""
    start = zlib.crc32(prompt.encode()) % len(FILLER)
    filler = [FILLER[(start + i) % len(FILLER)] for i in range(filler_words)]
    return ["Reply", "to:", *prompt.split(), *filler]


def complete(
    prompt: str,
    *,
    max_tokens: int | None = None,
    stop_sequences: Sequence[str] = (),
    filler_words: int = 8,
) -> Completion:
    """Plan the answer to `prompt`.

    1. Lay out the words as deltas: "Reply", " to:", " <word>", ...
    2. Find the earliest stop sequence in the full text; if it ends within the first
       `max_tokens` deltas, cut the text just before it (stop_reason "stop_sequence").
    3. Else keep at most `max_tokens` deltas ("max_tokens" if that cut something).
    """
    words = reply_words(prompt, filler_words)
    pieces = [word if i == 0 else f" {word}" for i, word in enumerate(words)]
    limit = len(pieces) if max_tokens is None else max_tokens
    hit = _earliest_stop("".join(pieces), stop_sequences)
    if hit is not None and _pieces_to_reach(pieces, hit[0] + len(hit[1])) <= limit:
        return Completion(_cut(pieces, hit[0]), "stop_sequence", hit[1])
    if len(pieces) > limit:
        return Completion(tuple(pieces[:limit]), "max_tokens")
    return Completion(tuple(pieces), "end_turn")


def _earliest_stop(text: str, stop_sequences: Sequence[str]) -> tuple[int, str] | None:
    found = [(text.find(seq), seq) for seq in stop_sequences if seq and seq in text]
    return min(found, default=None)


def _pieces_to_reach(pieces: Sequence[str], length: int) -> int:
    """How many pieces it takes for the text to be `length` characters long."""
    total = 0
    for count, piece in enumerate(pieces, start=1):
        total += len(piece)
        if total >= length:
            return count
    return len(pieces)


def _cut(pieces: Sequence[str], length: int) -> tuple[str, ...]:
    """The pieces cut so that their text is its first `length` characters."""
    out: list[str] = []
    used = 0
    for piece in pieces:
        if used >= length:
            break
        out.append(piece[: length - used])
        used += len(out[-1])
    return tuple(out)


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of blocks with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b["text"] for b in content if isinstance(b, dict) and "text" in b)
    return ""


def last_user_text(messages: Any) -> str | None:
    """The text of the last user message: the prompt key of a request."""
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return None


def count_words(texts: Iterable[str]) -> int:
    return sum(len(text.split()) for text in texts)
