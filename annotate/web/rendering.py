"""Model output as Markdown, safely: markdown-it-py renders (raw HTML off), Pygments
highlights code blocks, and nh3 (an allow-list sanitizer) removes anything else. No script,
no event handler, no image, no javascript: link survives; links get rel=noopener nofollow."""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "div",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
MAX_HIGHLIGHT_CHARS = 50_000


def _highlight(code: str, lang: str, attrs) -> str:
    if len(code) > MAX_HIGHLIGHT_CHARS:
        return ""  # markdown-it escapes it as plain text
    try:
        lexer = get_lexer_by_name(lang) if lang else guess_lexer(code)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


@cache
def _markdown() -> MarkdownIt:
    # breaks: a model's line breaks outside code fences stay line breaks (code without fences)
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "highlight": _highlight})
    return md.enable("table").enable("strikethrough")


def render_markdown(text: str) -> str:
    """Sanitized HTML for untrusted Markdown."""
    html = _markdown().render(text or "")
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def pygments_css() -> str:
    return HtmlFormatter().get_style_defs(".md pre")
