from __future__ import annotations

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
