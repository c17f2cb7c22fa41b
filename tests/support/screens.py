"""Screenshots and layout checks the browser tests share (issue 16): pages are shot at the widths
people use into a folder git ignores (var/screenshots/, or $ANNOTATE_SHOTS_DIR), and their layout
is asserted by bounding boxes, never by pixels."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1024, 1280, 1920)
HEIGHT = 900


def shots_dir() -> Path:
    folder = Path(os.environ.get("ANNOTATE_SHOTS_DIR") or ROOT / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, name: str, width: int | None = None) -> Path:
    """Save the whole page as NAME-WIDTH.png (the viewport set to `width` first, if given)."""
    if width is not None:
        page.set_viewport_size({"width": width, "height": HEIGHT})
    width = page.viewport_size["width"]
    path = shots_dir() / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def box(page, selector: str) -> dict:
    """The bounding box of the one element `selector` matches (x, y, width, height)."""
    found = page.locator(selector)
    assert found.count() == 1, f"{selector!r} matches {found.count()} elements"
    return found.bounding_box()


def overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes share any area."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


# Elements (by a short description) wider than the card that holds them, or reaching past its
# right edge: a table or chart cut by its card.
_WIDER_THAN_CARD = """
(selector) => {
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    const card = el.closest('.card') || document.body;
    const c = card.getBoundingClientRect(), r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > c.right + 1 || r.width > c.width + 1) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className}`
               + ` ${Math.round(r.width)}px in ${Math.round(c.width)}px`);
    }
  }
  return out;
}
"""


def wider_than_card(page, selector: str = "table, svg, canvas, figure") -> list[str]:
    """The elements matching `selector` that do not fit inside their card."""
    return page.evaluate(_WIDER_THAN_CARD, selector)
