from __future__ import annotations

import math
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

from annotate.web.rendering import render_markdown
from inference.backends import get_backend_class

register = template.Library()


@register.filter
def markdown(text: str) -> str:
    """Untrusted Markdown, rendered and then sanitized by an allow-list (annotate/rendering)."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitized by nh3 just above


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.simple_tag
def set_price_url(user, backend: str, model: str, config_id: int) -> str:
    """Where to set a missing price: the admin's new price form, filled in with the backend
    and model, for staff and a hosted model; otherwise the configuration's hourly price."""
    if user.is_staff and not get_backend_class(backend).is_local:
        query = urlencode({"backend": backend, "model": model})
        return f"{reverse('admin:annotate_price_add')}?{query}"
    return reverse("annotate-config-edit", args=[config_id])


def _plain(value: float) -> str:
    """A number as people write it, never in scientific notation: 1.2k, 350, 12.5, 0.0017 (two
    significant digits below 1; static/annotate/stats.js formats the charts the same way)."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.1f}".rstrip("0").rstrip(".") + "M"
    if size >= 1e4:
        return f"{value / 1e3:.0f}k"
    if size >= 1e3:
        return f"{value / 1e3:.1f}".rstrip("0").rstrip(".") + "k"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 1:
        return f"{value:.{1 if size >= 10 else 2}f}".rstrip("0").rstrip(".")
    if size == 0:
        return "0"
    digits = min(12, 1 - math.floor(math.log10(size)))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _money(value: float) -> str:
    """Cents from a cent up to $1,000 ($0.40, $12.50); fewer, two significant digits."""
    return f"{value:.2f}" if 0.01 <= value < 1000 else _plain(value)


@register.filter
def human(value, unit: str = "") -> str:
    """A figure with its unit: "s" (350 ms, 1.2 s), "usd" ($0.0017), "pct" (0.42 → 42%),
    "tok/s" (1.2k tok/s), or any other unit written after the number; None: an em dash."""
    if value is None:
        return "—"
    value = float(value)
    if unit == "s":
        return f"{_plain(value * 1000)} ms" if abs(value) < 1 else f"{_plain(value)} s"
    if unit == "usd":
        return f"{'-' if value < 0 else ''}${_money(abs(value))}"
    if unit == "pct":
        return f"{value * 100:.0f}%"
    return f"{_plain(value)} {unit}".rstrip()


@register.filter
def times(value, factor):
    """value × factor (None stays None): a cost per query shown per 1,000 queries."""
    return None if value is None else float(value) * float(factor)


# The projection's times and money (templates/annotate/_projection.html): in the units people
# read, never "0 min" and never in scientific notation.


def _one_decimal(value: float) -> str:
    """12.0 → "12", 1.64 → "1.6"; grouped by thousands."""
    return f"{value:,.1f}".removesuffix(".0")


@register.filter
def duration(hours) -> str:
    """Hours as 0.4 s, 45 s, 12 min, 1.6 h or 3.2 days; None: an em dash."""
    if hours is None:
        return "—"
    seconds = float(hours) * 3600
    if seconds < 0.05:
        return "under 0.1 s"
    if seconds < 59.5:
        return f"{_one_decimal(seconds)} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 59.5 * 60:
        minutes = seconds / 60
        return f"{_one_decimal(minutes)} min" if minutes < 10 else f"{minutes:.0f} min"
    if hours < 47.95:
        return f"{_one_decimal(float(hours))} h"
    return f"{_one_decimal(float(hours) / 24)} days"


@register.filter
def usd(value) -> str:
    """Dollars: $12,960 (from $100), $4.32, $0.0042 (up to two significant digits below $1)."""
    if value is None:
        return "—"
    value = float(value)
    size = abs(value)
    sign = "-" if value < 0 else ""
    if size >= 100:
        return f"{sign}${size:,.0f}"
    if size >= 1 or size == 0:
        return f"{sign}${size:,.2f}"
    digits = min(12, 1 - math.floor(math.log10(size)))
    text = f"{size:.{digits}f}"
    if digits > 2:  # two significant digits, not trailing zeros: $0.0007, $0.042
        text = text.rstrip("0")
    return f"{sign}${text}"
