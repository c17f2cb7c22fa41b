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


# Visible elements whose box (as far as it shows, cut by the scrolling boxes that hold it) meets
# the element `selector` matches, other than its own contents and the boxes that hold it (a
# button, a panel or the header lying over an answer).
_COVERING = """
(selector) => {
  // What shows of an element: its box cut by every scrolling or clipping box that holds it.
  const clipped = (el) => {
    let { left, top, right, bottom } = el.getBoundingClientRect();
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const c = up.getBoundingClientRect();
      left = Math.max(left, c.left); top = Math.max(top, c.top);
      right = Math.min(right, c.right); bottom = Math.min(bottom, c.bottom);
    }
    return { left, top, right, bottom, width: right - left, height: bottom - top };
  };
  const target = document.querySelector(selector);
  const t = target.getBoundingClientRect();
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (target.contains(el) || el.contains(target)) continue;
    if (!el.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;
    const r = clipped(el);
    if (r.width <= 0 || r.height <= 0) continue;
    if (r.left < t.right && t.left < r.right && r.top < t.bottom && t.top < r.bottom) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className}`);
    }
  }
  return out;
}
"""


def covering(page, selector: str) -> list[str]:
    """The visible elements, outside the one `selector` matches and its ancestors, whose
    bounding box overlaps it."""
    return page.evaluate(_COVERING, selector)


def shoot_element(locator, name: str) -> Path:
    """Save one element (a chart, a table) as NAME.png beside the page screenshots."""
    path = shots_dir() / f"{name}.png"
    locator.screenshot(path=str(path))
    return path
