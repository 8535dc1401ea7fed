"""MQTT sink: each event published as JSON at QoS 1 (paho-mqtt, the optional `mqtt` extra).

An event counts as delivered only once the broker acknowledged it (PUBACK for QoS 1);
a broker that is down, or an ack that does not come within ``timeout_s``, keeps the event
pending for a retry. QoS 1 means at-least-once: a receiver deduplicates by ``eventId``.
"""

from __future__ import annotations

import ssl
import string
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from streamer.errors import ConfigError
from streamer.events.record import EventRecord
from streamer.redact import redact
from streamer.schema.base import Loc
from streamer.schema.bases import ConfigBase, SinkBase
from streamer.schema.network import Url, is_loopback
from streamer.sinks.base import Dead, Delivered, Outcome, Retry, Sink, SinkContext, json_body

# --- config ---------------------------------------------------------------------------


MQTT_TOPIC_FIELDS = ("device_id", "stream_id", "event_type")


class MqttSinkConfig(SinkBase):
    type: Literal["mqtt"]
    id: str | None = None
    host: Url = Field(min_length=1, description="Broker host name or address.")
    port: int | None = Field(None, ge=1, le=65535, description="Default 1883, 8883 with tls.")
    topic: str = Field(
        "streamer/{device_id}/events", min_length=1, max_length=1000,
        description="Topic; {device_id}, {stream_id} and {event_type} are filled in.",
    )
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    qos: Literal[0, 1, 2] = 1
    include_images: bool = Field(False, description="Embed the JPEGs as base64.")
    timeout_s: float = Field(10.0, gt=0, description="Bound on connecting and on each ack.")
    tls: bool = Field(False, description="Connect over TLS, verifying the broker's certificate.")
    ca_file: Path | None = Field(
        None, description="PEM CA(s) that signed the broker's certificate; default: the system's."
    )
    cert_file: Path | None = Field(None, description="PEM client certificate, if the broker asks.")
    key_file: Path | None = Field(None, description="Its private key, unless cert_file holds it.")
    allow_insecure: bool = Field(
        False, description="Send a password without TLS to a broker off this machine."
    )

    @property
    def broker_port(self) -> int:
        return self.port if self.port is not None else (8883 if self.tls else 1883)

    @field_validator("topic")
    @classmethod
    def _topic_template(cls, value: str) -> str:
        """A bad template would fail every publish, not `validate`: check it here."""
        check_mqtt_topic(value, "")
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
        except ValueError as exc:
            raise ValueError(
                f"not a valid template ({exc}); write {{{{ and }}}} for braces"
            ) from None
        for field in fields:
            if field not in MQTT_TOPIC_FIELDS:
                known = ", ".join(f"{{{name}}}" for name in MQTT_TOPIC_FIELDS)
                raise ValueError(f"unknown field {{{field}}} (known: {known})")
        return value

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    def build(self, context: SinkContext) -> MqttSink:
        return MqttSink(self)

    def checks(self, config: ConfigBase) -> list[tuple[Loc, str]]:
        """TLS settings that hang together, no password in clear off this machine, and a
        topic the broker takes once this camera's ids are filled in."""
        problems: list[tuple[Loc, str]] = []
        for key, path in (("ca_file", self.ca_file), ("cert_file", self.cert_file),
                          ("key_file", self.key_file)):
            if path is not None and not self.tls:
                problems.append(((key,), "given without `tls: true`"))
        if self.key_file is not None and self.cert_file is None:
            problems.append((("key_file",), "needs cert_file"))
        elif self.tls:
            try:
                tls_context(self)
            except TlsFileError as exc:
                problems.append(((exc.key,), str(exc)))
        if self.password is not None and not (
            self.tls or self.allow_insecure or is_loopback(self.host)
        ):
            problems.append(
                (("password",),
                 f"would cross the network in clear to {self.host}: set `tls: true` "
                 f"(or `allow_insecure: true` on a network you trust)")
            )
        for field, value in (("device_id", config.device_id), ("stream_id", config.camera.id)):
            if f"{{{field}}}" in self.topic:
                try:
                    check_mqtt_topic(value, f"{field} {value!r} fills the topic: ")
                except ValueError as exc:
                    problems.append((("topic",), str(exc)))
        return problems


def check_mqtt_topic(topic: str, what: str) -> None:
    """Raise ValueError for what a broker refuses in a topic to publish to."""
    for bad, why in (("+", "a wildcard"), ("#", "a wildcard"), ("\0", "a NUL character")):
        if bad in topic:
            raise ValueError(f"{what}{bad!r} is {why}: not allowed in a topic to publish to")


# --- plugin -----------------------------------------------------------------------------


def make_client(mqtt: Any, client_id: str = "") -> Any:
    """A paho client under 1.x or 2.x (2.x wants the callback API version named)."""
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=mqtt.MQTTv311)
    return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)


class TlsFileError(ConfigError):
    """A TLS file that exists but cannot be used; ``key`` names the config key."""

    def __init__(self, key: str, path: Path | None, reason: object) -> None:
        why = getattr(reason, "reason", None) or getattr(reason, "strerror", None) or reason
        super().__init__(f"cannot use {path} for TLS: {why}")
        self.key = key


def tls_context(config: MqttSinkConfig) -> ssl.SSLContext:
    """Verify the broker against ``ca_file`` (or the system's CAs) and its host name, and
    present ``cert_file`` when given. Loaded by `validate` too, so a bad PEM file is found
    there rather than on the first send."""
    try:
        context = ssl.create_default_context(cafile=config.ca_file)
    except (OSError, ValueError) as exc:
        raise TlsFileError("ca_file", config.ca_file, exc) from None
    if config.cert_file is not None:
        try:
            context.load_cert_chain(config.cert_file, config.key_file)
        except (OSError, ValueError) as exc:
            key = "key_file" if config.key_file is not None else "cert_file"
            raise TlsFileError(key, config.cert_file if key == "cert_file" else config.key_file,
                               exc) from None
    return context


class MqttSink(Sink):
    """Publishes to ``config.topic``; connects lazily and reconnects on the sender thread."""

    def __init__(self, config: MqttSinkConfig) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise ConfigError(
                f"sink {config.name!r}: type mqtt needs paho-mqtt: pip install 'streamer[mqtt]'"
            ) from None
        self._mqtt = mqtt
        self.name = config.name
        self._config = config
        self._password = config.password.get_secret_value() if config.password else None
        try:
            self._tls = tls_context(config) if config.tls else None
        except TlsFileError as exc:
            raise ConfigError(f"sink {config.name!r}: {exc.key}: {exc}") from None
        self._client: Any = None
        self._connected = threading.Event()
        self._connect_error = ""

    # -- connection ---------------------------------------------------------------------

    def _ensure_connected(self) -> str | None:
        """None when connected, else why not (the batch is then kept for a retry)."""
        if self._client is not None and self._connected.is_set():
            return None
        self._disconnect()
        mqtt = self._mqtt
        client = make_client(mqtt, self._config.client_id or "")
        if self._config.username:
            client.username_pw_set(self._config.username, self._password)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._connected.clear()
        self._connect_error = ""
        where = f"{self._config.host}:{self._config.broker_port}"
        try:
            client.connect(self._config.host, self._config.broker_port, keepalive=30)
        except ssl.SSLError as exc:  # an OSError without strerror: say what TLS said
            return self._redact(f"TLS with {where} failed: {exc.reason or exc}")
        except OSError as exc:
            return self._redact(f"cannot connect to {where}: {exc.strerror or exc}")
        client.loop_start()
        self._client = client
        if not self._connected.wait(self._config.timeout_s):
            reason = self._connect_error or f"no CONNACK within {self._config.timeout_s:g} s"
            self._disconnect()
            return reason
        return None

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, *rest: Any) -> None:
        # paho 1.x passes an int (0 = accepted), 2.x a ReasonCode.
        failed = reason.is_failure if hasattr(reason, "is_failure") else reason != 0
        if failed:
            self._connect_error = f"broker refused the connection: {reason}"
        else:
            self._connected.set()

    def _on_disconnect(self, client: Any, *args: Any) -> None:
        self._connected.clear()

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            finally:
                client.loop_stop()

    # -- Sink protocol ------------------------------------------------------------------

    def send(self, batch: list[EventRecord]) -> dict[str, Outcome]:
        problem = self._ensure_connected()
        if problem is not None:
            return {r.event_id: Retry(problem) for r in batch}
        published: list[tuple[EventRecord, Any]] = []
        outcomes: dict[str, Outcome] = {}
        for record in batch:
            try:
                body = json_body(record, self._config.include_images)
            except (TypeError, ValueError) as exc:
                outcomes[record.event_id] = Dead(str(exc))
                continue
            info = self._client.publish(self._topic(record), body, qos=self._config.qos)
            published.append((record, info))
        deadline = time.monotonic() + self._config.timeout_s
        for record, info in published:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:  # paho: not queued (connection lost)
                outcomes[record.event_id] = Retry(f"publish failed: {exc}")
                continue
            if info.is_published():
                outcomes[record.event_id] = Delivered()
            else:
                outcomes[record.event_id] = Retry(
                    f"no acknowledgement from the broker within {self._config.timeout_s:g} s"
                )
        if any(isinstance(o, Retry) for o in outcomes.values()):
            # Start afresh next time: a half-dead session may never ack again.
            self._disconnect()
        return outcomes

    def close(self) -> None:
        self._disconnect()

    # -- helpers ------------------------------------------------------------------------

    def _topic(self, record: EventRecord) -> str:
        payload = record.payload
        return self._config.topic.format(
            device_id=payload.get("deviceId", ""),
            stream_id=payload.get("streamId", ""),
            event_type=payload.get("eventType", ""),
        )

    def _redact(self, text: str) -> str:
        return redact(text, (self._password,) if self._password else ())
