"""What a browser would send for a page's form left as it is: its fields' initial values.

    values = form_values(response.content.decode(), field="name")
    client.post("/models/new/", values)

Follows the HTML rules that matter here: a `<textarea>` drops one newline right after its
start tag; a `<select>` sends its selected option, else its first; checkboxes and radios
only when checked (value "on" by default); inputs without a name, disabled ones, buttons,
submits and files send nothing.
"""

from __future__ import annotations

from html.parser import HTMLParser

NOT_SENT = {"submit", "button", "image", "reset", "file"}


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []  # (action, fields)
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: tuple[str | None, bool, list[str]] | None = None

    @property
    def _fields(self) -> list[tuple[str, str]]:
        return self.forms[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), []))
        elif not self.forms or "disabled" in a:
            return
        elif tag == "input":
            self._input(a)
        elif tag == "textarea" and a.get("name"):
            self._textarea = (a["name"], [])
        elif tag == "select" and a.get("name"):
            self._select = (a["name"], [])
        elif tag == "option" and self._select:
            self._option = (a.get("value"), "selected" in a, [])

    def _input(self, a: dict[str, str]) -> None:
        kind = a.get("type", "text").lower()
        toggle = kind in ("checkbox", "radio")
        if a.get("name") and kind not in NOT_SENT and (not toggle or "checked" in a):
            self._fields.append((a["name"], a.get("value", "on" if toggle else "")))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._textarea[1].append(data)
        elif self._option:
            self._option[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea:
            name, parts = self._textarea
            text = "".join(parts)
            self._fields.append((name, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "option" and self._option and self._select:
            value, selected, parts = self._option
            self._select[1].append((value if value is not None else "".join(parts), selected))
            self._option = None
        elif tag == "select" and self._select:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [
                value for value, _ in options[:1]
            ]
            self._fields.extend((name, value) for value in chosen[:1])
            self._select = None


def form_values(html: str, field: str) -> dict[str, str]:
    """The values of the page's form that has a field named `field`, as the browser would
    post it unchanged. One value a name (the last one)."""
    parser = _Forms()
    parser.feed(html)
    for _, fields in parser.forms:
        if field in {name for name, _ in fields}:
            return dict(fields)
    raise AssertionError(f"no form with a field {field!r} on the page")
