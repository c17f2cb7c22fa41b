from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from annotate.web.rendering import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> str:
    """Untrusted Markdown, rendered and then sanitized by an allow-list (annotate/rendering)."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitized by nh3 just above


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None
