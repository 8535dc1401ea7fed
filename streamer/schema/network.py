"""Network policy for the config: URLs and host names without control characters, no
secret over plain http off this machine, what counts as loopback, the monitor's token
length. Judged as written, never by DNS.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

from streamer.schema.base import Loc

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def no_control_chars(value: str) -> str:
    """Refuse CR, LF and every other C0 control or DEL in a URL or host name: FFmpeg sent
    a CR/LF from an RTSP URL inside its request, and an HTTP client would fail on every
    send. Said at `validate`, without echoing the value (it may hold a password)."""
    found = _CONTROL_CHARS.search(value)
    if found is not None:
        raise ValueError(f"holds a control character (U+{ord(found.group()):04X} at position "
                         f"{found.start()}); a URL or host name cannot carry one")
    return value


# Every URL or host name in the config: the camera's source, sinks, webhooks.
Url = Annotated[str, AfterValidator(no_control_chars)]


def insecure_http(key: str, url: str, what: str, allowed: bool) -> list[tuple[Loc, str]]:
    """A key, a signing secret or an Authorization header never travels over plain http
    off this machine unless the sink says so (issue 11): anyone on the path could read it."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return [((key,), f"not a valid URL: {url!r}")]
    if parts.scheme.lower() not in ("http", "https") or not host:
        return [((key,), "expected an http(s):// URL")]
    if parts.scheme.lower() == "http" and not is_loopback(host) and not allowed:
        return [(
            (key,),
            f"http:// to {host} sends {what} unencrypted; use https:// "
            f"(or set allow_insecure_http: true)",
        )]
    return []



def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine, judged as written (no DNS): ``localhost`` or a
    loopback address; a name such as ``127.example.com`` is not."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MIN_TOKEN_CHARS = 16


def bind_host(bind: str) -> str:
    """The host part of ``HOST:PORT`` (``[::1]:80`` gives ``::1``)."""
    return bind.rpartition(":")[0].strip().strip("[]")


def normal_host(host: str) -> str:
    """One spelling per host name: no brackets, no trailing dot, lower case."""
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; an empty host, which the monitor binds to 127.0.0.1."""
    host = normal_host(host)
    return host == "" or is_loopback(host)


HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")

