"""Redaction by parsing URLs, the config's secrets registered by value, and log records
masked whole (traceback included)."""

from __future__ import annotations

import io
import logging

import pytest

from streamer.config.loader import parse_config
from streamer.config.models import config_secrets
from streamer.redact import protect_handlers, redact, replace_urls


@pytest.mark.parametrize(("text", "shown", "hidden"), [
    # A password holding '@', common on site: masked whole, not half.
    ("rtsp://admin:p@ss-word@cam-3/stream1", "rtsp://***@cam-3/stream1", ["p@ss", "ss-word"]),
    ("cannot open stream rtsp://admin:p@ss@10.0.0.9:554/h264: refused",
     "cannot open stream rtsp://***@10.0.0.9:554/h264: refused", ["p@ss", "ss@"]),
    # Every query value, whatever its name: vendors use pwd, auth, sig, code, ...
    ("http://cam/snap.cgi?user=admin&pwd=hunter2&auth=abc&token=t0k&sig=x9&chn=1",
     "http://cam/snap.cgi?user=***&pwd=***&auth=***&token=***&sig=***&chn=***",
     ["hunter2", "abc", "t0k", "x9"]),
    ("http://cam/video?Zm9vYmFy", "http://cam/video?***", ["Zm9vYmFy"]),
    ("rtsp://u:pw@[fe80::1]:554/x#frag-secret", "rtsp://***@[fe80::1]:554/x#***", ["pw", "frag-secret"]),
    ("rtsp://u:p?ss#w@cam/x", "rtsp://***@cam/x", ["p?ss", "ss#w"]),
    ("'http://cam/x?password=q1w2e3' failed", "'http://cam/x?password=***' failed", ["q1w2e3"]),
    ("cannot open rtsp://cam/s?pwd=zz9: refused; pwd=q1: no", "cannot open rtsp://cam/s?pwd=***: "
     "refused; pwd=***: no", ["zz9", "q1"]),
    ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***", ["abc.def-123"]),
    ("/tmp/clips/dock.mp4 opened", "/tmp/clips/dock.mp4 opened", []),
])
def test_urls_are_redacted_by_parsing(text: str, shown: str, hidden: list[str]) -> None:
    out = redact(text)
    assert out == shown
    for secret in hidden:
        assert secret not in out


def test_an_at_sign_in_the_path_is_not_taken_for_a_password() -> None:
    assert redact("http://host/path?email=a@b.example") == "http://host/path?email=***"
    assert redact("http://host/users/@me") == "http://host/users/@me"


BASE = "models: [{id: m, kind: hog}]\n"


def test_the_config_secrets_are_registered_by_value() -> None:
    """Camera password (both forms), query values, every SecretStr, a webhook's path."""
    config = parse_config(
        "camera: {source: 'rtsp://admin:p%40ss-w0rd@cam/stream?user=admin&pwd=qs-secret-1'}\n"
        + BASE
        + "sinks:\n"
        "  - {type: vision_events, api_key: rf-key-123456, use_case: u}\n"
        "  - {type: webhook, url: 'https://hooks.example/services/T0/B0/hook-tok-42', "
        "secret: hmac-key-777}\n"
        "monitor: {token: monitor-tok-99}\n"
    )
    secrets = config_secrets(config)
    for value in ("p%40ss-w0rd", "p@ss-w0rd", "qs-secret-1", "rf-key-123456", "hmac-key-777",
                  "monitor-tok-99", "/services/T0/B0/hook-tok-42"):
        assert value in secrets, value
    # Outside any URL (a decoder's message, a decoded password) they are masked by value.
    text = redact("auth failed for p@ss-w0rd, key rf-key-123456, tok qs-secret-1 "
                  "posting to hooks.example/services/T0/B0/hook-tok-42", secrets)
    assert "w0rd" not in text and "123456" not in text and "qs-secret" not in text
    assert "hook-tok-42" not in text


def test_a_short_webhook_path_is_no_secret_to_mask_everywhere() -> None:
    """``/in`` is not a token: masking it by value would garble every "/in…" in the logs."""
    config = parse_config(
        "camera: {source: clip.mp4}\n" + BASE
        + "sinks: [{type: webhook, url: 'https://hooks.example/in'}]\n"
    )
    secrets = config_secrets(config)
    assert "/in" not in secrets
    assert redact("reading /input/clip.mp4", secrets) == "reading /input/clip.mp4"


def test_urls_in_text_that_leaves_the_box_become_the_camera_id() -> None:
    reason = "cannot open stream rtsp://***@cam-3:554/stream1?x=***: unreachable"
    assert replace_urls(reason, "camera dock-3") == "cannot open stream camera dock-3: unreachable"


def test_a_logged_traceback_is_redacted_whole() -> None:
    """log.exception prints the exception's text in the traceback, where a filter that
    rewrites the message never looks."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    protect_handlers([handler], ["rf-live-key-0042"])
    log = logging.getLogger("test_redact.traceback")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ConnectionError(
                "cannot reach rtsp://admin:p@ss@cam/x?pwd=qv-9 with key rf-live-key-0042"
            )
        except ConnectionError:
            log.exception("sender failed for %s", "http://u:argpw@host/")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "Traceback (most recent call last)" in out and "ConnectionError" in out
    assert "ERROR test_redact.traceback: sender failed for http://***@host/" in out
    for secret in ("p@ss", "ss@cam", "qv-9", "rf-live-key-0042", "argpw"):
        assert secret not in out, secret
