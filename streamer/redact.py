"""One place that strips secrets from any text before it reaches a log, page or event.

URLs are redacted by parsing, not by one pattern: a camera password that contains ``@``
(``rtsp://admin:p@ss@cam/…``, common on site) is masked whole, and every query value is
masked, whatever its name (cameras put passwords in ``pwd=``, ``auth=``, ``sig=``, ``code=``
and more; no list of names could be complete). On top of that, the exact secret values a
config holds are masked wherever they appear (:func:`redact`'s ``secrets``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
# A literal secret shorter than this is not masked by value: "1" or "ab" would mask
# unrelated text everywhere. Inside a URL it is still masked by parsing.
MIN_LITERAL_CHARS = 4

# A URL inside free text: scheme, then everything up to whitespace, a quote or a bracket,
# less trailing punctuation ("cannot open rtsp://cam/x: refused").
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>[^\s\"'<>]*[^\s\"'<>.,:;!?)\]])"
)
# The host part that must follow the userinfo's '@': a name, IPv4 or [IPv6], an optional
# port, then the end or the start of the path, query or fragment.
_HOST_AFTER_AT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]*)(?::\d*)?(?=[/?#]|$)")
# api_key=..., token=..., password=... in key=value text outside URLs.
_KEY_VALUE_SECRET = re.compile(
    r"(?P<key>(?:api[_-]?key|token|password|passwd|pwd|secret|access[_-]?token|auth)=)"
    r"[^&\s\"']*[^&\s\"'.,:;!?)\]]",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with URL credentials and query values, key=value secrets, Bearer
    tokens and the given literal ``secrets`` masked.

    ``secrets`` are exact values (API keys, passwords read from the config) that must not
    appear even where no pattern would catch them.
    """
    out = str(text)
    # Longest first: a secret that contains another is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= MIN_LITERAL_CHARS:
            out = out.replace(secret, MASK)
    out = _URL.sub(lambda m: f"{m['scheme']}://{_redact_url_rest(m['rest'])}", out)
    out = _KEY_VALUE_SECRET.sub(lambda m: f"{m['key']}{MASK}", out)
    return _BEARER.sub(lambda m: f"{m['key']}{MASK}", out)


def _userinfo_end(rest: str) -> int:
    """Index of the '@' that ends the userinfo in ``rest`` (after ``scheme://``), or -1.

    The first '@' with no '/' before it that is followed by something shaped like a host:
    a password may hold '@', '?' or '#', a host never holds '@', and an '@' after a '/'
    belongs to the path or query. When none qualifies, the last '@' before the first
    '/', '?' or '#' (urlsplit's reading).
    """
    for index, char in enumerate(rest):
        if char == "/":
            break
        if char == "@" and _HOST_AFTER_AT.match(rest, index + 1):
            return index
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return authority.rfind("@")


def _redact_url_rest(rest: str) -> str:
    """Mask the userinfo, every query value and the fragment of one URL (after ``://``)."""
    at = _userinfo_end(rest)
    head = ""
    if at >= 0:
        head, rest = f"{MASK}@", rest[at + 1 :]
    rest, hash_sign, fragment = rest.partition("#")
    base, question, query = rest.partition("?")
    if question:
        base += "?" + "&".join(_mask_param(param) for param in query.split("&"))
    if hash_sign and fragment:
        base += "#" + MASK
    return head + base


def _mask_param(param: str) -> str:
    key, equals, value = param.partition("=")
    if not equals:
        return MASK if key else key  # a bare value (?abcdef) may be the token itself
    return f"{key}={MASK}" if value else f"{key}="


def url_secrets(url: str) -> list[str]:
    """The secret values inside one URL, as written and percent-decoded: the userinfo's
    password (both readings of an ambiguous '@'), every query value and the fragment.

    Registered as literal secrets, so they are masked also where they appear outside the
    URL (a decoder's error message, a decoded password).
    """
    match = _URL.match(url.strip())
    if match is None:
        return []
    rest = match["rest"]
    found: list[str] = []
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    for at in {_userinfo_end(rest), authority.rfind("@")}:
        if at >= 0:
            password = rest[:at].partition(":")[2]
            found += [password, rest[:at]]
    at = _userinfo_end(rest)
    rest, _, fragment = rest[at + 1 :].partition("#")
    found.append(fragment)
    for param in filter(None, rest.partition("?")[2].split("&")):
        found.append(param.partition("=")[2] or param)
    out: list[str] = []
    for value in found:
        for form in (value, unquote(value)):
            if form and form not in out:
                out.append(form)
    return out


def replace_urls(text: str, replacement: str) -> str:
    """``text`` with every URL in it replaced by ``replacement`` (for text that leaves the
    box: an event names the camera by its id, never by its address)."""
    return _URL.sub(replacement, text)


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record: message, arguments and the traceback.

    A filter that rewrites ``record.msg`` misses ``exc_text``: a ``log.exception`` whose
    exception quotes a URL would print it raw. Redacting the formatted output covers every
    part, whatever module logged it.
    """

    def __init__(self, inner: logging.Formatter | None, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self._secrets)


def protect_handlers(handlers: Iterable[logging.Handler], secrets: Iterable[str] = ()) -> None:
    """Give each handler a :class:`RedactingFormatter` masking ``secrets`` (replacing an
    earlier one, so the secrets of a config loaded later are added)."""
    secrets = tuple(secrets)
    for handler in handlers:
        inner = handler.formatter
        if isinstance(inner, RedactingFormatter):
            inner = inner._inner
        handler.setFormatter(RedactingFormatter(inner, secrets))
