"""Where hosted requests may go, and which key may go with them: the operator's decision.

A model configuration names a base URL and the environment variable that holds its key. Both
are checked against the operator's allow-lists (settings HOSTED_BASE_URLS and
HOSTED_KEY_VARIABLES) when the configuration is saved, and again by the worker before it sends
anything, so that whoever edits a configuration can neither reach an address the operator did
not allow nor send one variable's value (SECRET_KEY, DATABASE_URL, another provider's key) to a
host it was not meant for. No Django here: the worker's backends call it with the rules the
runner hands them.

An allowed URL is an origin with an optional path prefix: `https://api.openai.com/v1`, or
`http://127.0.0.1:*` (any port of a host). A key rule is `VARIABLE=URL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
}
DEFAULT_KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
_PORTS = {"http": 80, "https": 443}


class EgressRefused(ValueError):
    """The configuration names an address or a key variable the operator does not allow."""


@dataclass(frozen=True)
class Egress:
    """The operator's allow-lists: base URLs, and for each key variable the URLs it may go to."""

    base_urls: tuple[str, ...] = ()
    key_variables: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, base_urls: str, key_variables: str) -> Egress:
        """From the settings' text: URLs separated by commas or spaces; VARIABLE=URL rules."""
        urls = tuple(_words(base_urls))
        rules: dict[str, list[str]] = {}
        for rule in _words(key_variables):
            name, sep, url = rule.partition("=")
            if not sep or not name.isidentifier() or not url:
                raise ValueError(f"HOSTED_KEY_VARIABLES: {rule!r} is not VARIABLE=URL")
            rules.setdefault(name, []).append(url)
        for url in (*urls, *(u for us in rules.values() for u in us)):
            _pattern(url)  # a bad entry fails at start, not at the first request
        return cls(urls, {name: tuple(us) for name, us in rules.items()})

    def as_params(self) -> dict:
        return {"base_urls": list(self.base_urls), "key_variables": dict(self.key_variables)}

    @classmethod
    def from_params(cls, params: dict) -> Egress:
        rules = params.get("egress") or {}
        return cls(
            tuple(rules.get("base_urls") or ()),
            {k: tuple(v) for k, v in (rules.get("key_variables") or {}).items()},
        )

    def key_variable(self, backend: str, base_url: str, api_key_env: str) -> str | None:
        """The variable whose value may be sent to this configuration's URL, or None (the
        request goes without a key). Raises EgressRefused for what the operator does not allow:
        a URL outside HOSTED_BASE_URLS, or a named variable not allowed for that URL."""
        url = base_url or DEFAULT_URLS.get(backend, "")
        if not _allowed(url, self.base_urls):
            shown = ", ".join(self.base_urls) or "none"
            raise EgressRefused(
                f"{_shown(url)} is not a base URL the operator allows "
                f"(setting HOSTED_BASE_URLS: {shown})."
            )
        if api_key_env:
            if not api_key_env.isidentifier():
                raise EgressRefused("The key variable is the name of an environment variable.")
            if not _allowed(url, self.key_variables.get(api_key_env, ())):
                raise EgressRefused(
                    f"The operator does not allow the key in {api_key_env} to be sent to "
                    f"{_shown(url)} (setting HOSTED_KEY_VARIABLES)."
                )
            return api_key_env
        default = DEFAULT_KEY_VARIABLES.get(backend)
        if default and _allowed(url, self.key_variables.get(default, ())):
            return default
        return None  # a server that takes no key (vLLM, llama.cpp, mlx_lm.server)


def _words(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _shown(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":?"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _pattern(url: str) -> tuple[str, str, str, str]:
    """(scheme, host, port or '*', path prefix) of an allowed URL."""
    wildcard = url.replace(":*", ":1", 1) if ":*" in url else None
    parts = urlsplit(wildcard or url)
    if parts.scheme not in _PORTS or not parts.hostname or parts.username or parts.query:
        raise ValueError(f"{url!r} is not an http(s) URL without credentials or query")
    port = "*" if wildcard else str(parts.port or _PORTS[parts.scheme])
    return parts.scheme, parts.hostname.lower(), port, parts.path.rstrip("/")


def _allowed(url: str, allowed: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in _PORTS or not parts.hostname or parts.username or parts.password:
        return False
    host, path = parts.hostname.lower(), parts.path.rstrip("/")
    if {".", ".."} & set(path.split("/")) or "%2e" in path.lower():
        return False  # a dot segment would step out of an allowed path prefix
    port = str(port or _PORTS[parts.scheme])
    for entry in allowed:
        scheme, a_host, a_port, prefix = _pattern(entry)
        if (scheme, a_host) != (parts.scheme, host) or a_port not in ("*", port):
            continue
        if path == prefix or path.startswith(prefix + "/"):
            return True
    return False
