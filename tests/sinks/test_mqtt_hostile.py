"""The MQTT sink's config at its edges, through the real CLI and a real mosquitto: a topic
template the sink cannot fill is refused by `validate` (it used to fail every send as an
"internal error"); a password is never sent in clear to a broker off this machine; TLS
with a CA, a client certificate and host name checks delivers to a real TLS listener."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from support import (
    free_port,
    make_record,
    make_video,
    read_jsonl,
    run_cli,
    walker,
    write_config,
    write_replay,
)
from support.mqtt import TlsFiles, make_tls_files, mosquitto
from support.outcomes import send_in_order

from streamer.config.models import MqttSinkConfig
from streamer.events.sink_contract import Delivered, Paused, Retry

pytestmark = [pytest.mark.integration, pytest.mark.system]

PASSWORD = "mqtt-pw-5f1c0e"


def site(tmp_path: Path, **mqtt: Any) -> dict[str, Any]:
    return {
        "device_id": "edge-7",
        "camera": {"id": "dock", "source": str(tmp_path / "clip.mp4")},
        "models": [{"id": "m", "kind": "replay", "path": str(tmp_path / "dets.jsonl")}],
        "rules": [{"id": "crowd", "type": "count", "threshold": 1, "for_s": 0, "clear_s": 0,
                   "cooldown_s": 0}],
        "sinks": [{"type": "mqtt", "host": "127.0.0.1", **mqtt},
                  {"type": "jsonl", "path": str(tmp_path / "events.jsonl")}],
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "monitor": {"enabled": False},
    }


def validate(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str, Path]:
    # validate checks that the video and the replay file exist: give it real ones.
    if not (tmp_path / "clip.mp4").exists():
        make_video(tmp_path / "clip.mp4", frames=2)
        write_replay(tmp_path / "dets.jsonl", walker(range(2), x_start=100, x_step=2))
    path = write_config(tmp_path / "site.yaml", config)
    result = run_cli("validate", str(path))
    return result.returncode, result.stderr.strip(), path


def line_of(path: Path, key: str) -> int:
    """1-based line of the first ``key:`` in the file (configs here are block YAML)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.strip().lstrip("- ").startswith(f"{key}:"))


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("cams/{camera}/events", "unknown field {camera} (known: {device_id}, {stream_id}, {event_type})"),
        ("cams/{stream_id.upper}", "unknown field {stream_id.upper}"),
        ("cams/{}", "unknown field {}"),
        ("cams/{stream_id", "not a valid template"),
        ("cams/#", "'#' is a wildcard: not allowed in a topic to publish to"),
        ("cams/+/{stream_id}", "'+' is a wildcard"),
    ],
)
def test_topic_the_sink_cannot_fill_is_refused_at_validate(tmp_path: Path, topic: str, expected: str) -> None:
    code, stderr, path = validate(tmp_path, site(tmp_path, topic=topic))
    assert code == 2, stderr
    assert stderr.splitlines() == [stderr]
    assert stderr.startswith(f"error: {path}:{line_of(path, 'topic')} sinks[0].topic: "), stderr
    assert expected in stderr


def test_camera_id_with_a_wildcard_cannot_fill_the_topic(tmp_path: Path) -> None:
    config = site(tmp_path, topic="cams/{stream_id}/{event_type}")
    config["camera"]["id"] = "dock#3"
    code, stderr, path = validate(tmp_path, config)
    assert code == 2
    assert "sinks[0].topic: stream_id 'dock#3' fills the topic: '#' is a wildcard" in stderr


@pytest.mark.parametrize("host", ["broker.example.com", "127.example.com", "10.0.0.5"])
def test_password_in_clear_off_this_machine_is_refused(tmp_path: Path, host: str) -> None:
    config = site(tmp_path, host=host, username="cam", password=PASSWORD)
    code, stderr, path = validate(tmp_path, config)
    assert code == 2, stderr
    assert stderr == (
        f"error: {path}:{line_of(path, 'password')} sinks[0].password: would cross the network "
        f"in clear to {host}: set `tls: true` (or `allow_insecure: true` on a "
        f"network you trust)"
    )
    assert PASSWORD not in stderr


def test_password_is_fine_with_tls_an_explicit_opt_in_or_on_this_machine(tmp_path: Path) -> None:
    for fix in ({"tls": True}, {"allow_insecure": True}, {"host": "127.0.0.1"},
                {"host": "localhost"}, {"host": "::1"}):
        ok = site(tmp_path, **{"host": "broker.example.com", "username": "cam",
                               "password": PASSWORD, **fix})
        code, stderr, _ = validate(tmp_path, ok)
        assert code == 0, (fix, stderr)


def test_tls_files_are_checked_at_validate(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cases = [
        ({"tls": True, "ca_file": str(tmp_path / "missing.pem")}, "ca_file", "no such file"),
        ({"tls": True, "ca_file": str(garbage)}, "ca_file", f"cannot use {garbage} for TLS"),
        ({"ca_file": str(garbage)}, "ca_file", "given without `tls: true`"),
        ({"tls": True, "key_file": str(garbage)}, "key_file", "needs cert_file"),
        ({"tls": True, "cert_file": str(garbage)}, "cert_file", f"cannot use {garbage} for TLS"),
    ]
    for extra, key, expected in cases:
        code, stderr, path = validate(tmp_path, site(tmp_path, **extra))
        assert code == 2, (extra, stderr)
        assert len(stderr.splitlines()) == 1, stderr
        assert f"{path}:{line_of(path, key)} sinks[0].{key}: " in stderr, (extra, stderr)
        assert expected in stderr, (extra, stderr)


def tls_broker_conf(tls: TlsFiles, tls_port: int, plain_port: int) -> str:
    """A TLS listener that wants a client certificate, and a plain one for the test to listen."""
    return "\n".join([
        "allow_anonymous true",
        f"listener {tls_port} 127.0.0.1",
        f"cafile {tls.ca}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}",
        "require_certificate true",
        f"listener {plain_port} 127.0.0.1",
    ])


def subscribe(port: int, got: list[tuple[str, dict[str, Any]]]) -> Any:
    import paho.mqtt.client as mqtt

    from streamer.sinks.mqtt import make_client

    subscribed = threading.Event()
    listener = make_client(mqtt)
    listener.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    listener.on_subscribe = lambda *a: subscribed.set()
    listener.connect("127.0.0.1", port)
    listener.subscribe("#", qos=1)
    listener.loop_start()
    assert subscribed.wait(10)
    return listener


def test_tls_with_a_client_certificate_delivers_every_event(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "pki")
    tls_port, plain_port = free_port(), free_port()
    make_video(tmp_path / "clip.mp4", frames=40, fps=10.0)
    present = [f for f in range(40) if (f // 10) % 2 == 0]  # twice in view: two events
    write_replay(tmp_path / "dets.jsonl", walker(present, x_start=100, x_step=2))
    config = site(tmp_path, port=tls_port, tls=True, ca_file=str(tls.ca),
                  cert_file=str(tls.client_cert), key_file=str(tls.client_key),
                  username="cam", password=PASSWORD, topic="cams/{stream_id}/{event_type}")
    path = write_config(tmp_path / "site.yaml", config)
    got: list[tuple[str, dict[str, Any]]] = []
    with mosquitto(tls_broker_conf(tls, tls_port, plain_port), [tls_port, plain_port], tmp_path):
        listener = subscribe(plain_port, got)
        try:
            result = run_cli("run", str(path), "--drain-s", "20", timeout=120)
        finally:
            listener.loop_stop()
            listener.disconnect()
    assert result.returncode == 0, result.stderr
    stored = read_jsonl(tmp_path / "events.jsonl")
    assert len(stored) == 2
    assert sorted(p["eventId"] for _, p in got) == sorted(e["eventId"] for e in stored)
    assert {topic for topic, _ in got} == {"cams/dock/inventory_count"}
    assert PASSWORD not in result.stdout + result.stderr


def test_tls_broker_with_a_certificate_from_another_ca_is_retried_not_trusted(tmp_path: Path) -> None:
    from streamer.sinks.mqtt import MqttSink

    theirs = make_tls_files(tmp_path / "theirs", name="someone-else")
    ours = make_tls_files(tmp_path / "ours")
    port = free_port()
    conf = "\n".join(["allow_anonymous true", f"listener {port} 127.0.0.1",
                      f"certfile {theirs.server_cert}", f"keyfile {theirs.server_key}"])
    with mosquitto(conf, [port], tmp_path):
        sink = MqttSink(MqttSinkConfig(type="mqtt", host="127.0.0.1", port=port, tls=True,
                                       ca_file=ours.ca, timeout_s=3))
        try:
            outcome = send_in_order(sink, [make_record()])[0]
        finally:
            sink.close()
    assert not isinstance(outcome, Delivered) and isinstance(outcome, (Retry, Paused))
    assert f"TLS with 127.0.0.1:{port} failed" in outcome.reason
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.reason


def test_tls_port_defaults_to_8883() -> None:
    assert MqttSinkConfig(type="mqtt", host="broker", tls=True).broker_port == 8883
    assert MqttSinkConfig(type="mqtt", host="broker").broker_port == 1883
