"""One place that strips secrets from any text before it reaches a log, page or event."""

from __future__ import annotations

import re

# user:password@ in any URL-like text (rtsp://, http://, ...).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<cred>[^/@\s]+)@")
# api_key=..., token=..., password=... in query strings or key=value text.
_QUERY_SECRET = re.compile(
    r"(?P<key>(?:api[_-]?key|token|password|passwd|secret|access[_-]?token)=)[^&\s\"']+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: object, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Return ``text`` with URL credentials, key=value secrets and the given literals masked.

    ``secrets`` are exact values (API keys, passwords read from the config) that must not
    appear even where no pattern would catch them.
    """
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, "***")
    out = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", out)
    out = _QUERY_SECRET.sub(lambda m: f"{m['key']}***", out)
    out = _BEARER.sub(lambda m: f"{m['key']}***", out)
    return out
