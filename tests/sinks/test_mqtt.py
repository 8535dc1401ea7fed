"""The MQTT sink against a real mosquitto broker: QoS 1 publishes, events kept while the
broker is down, and a broker that is down is a retry."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    free_port,
    make_record,
    wait_for,
)
from support.mqtt import mosquitto
from support.outcomes import send_in_order

from streamer.config.models import MqttSinkConfig
from streamer.events.sink_contract import Delivered, Paused, Retry
from streamer.sinks.mqtt import MqttSink, make_client

pytestmark = [pytest.mark.integration, pytest.mark.system]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """Debian's mosquitto on a free loopback port with its own config file."""
    port = free_port()
    with mosquitto(f"listener {port} 127.0.0.1\nallow_anonymous true", [port], tmp_path):
        yield port


def test_mqtt_publishes_qos1_and_keeps_events_while_the_broker_is_down(broker: int) -> None:
    import paho.mqtt.client as mqtt

    got: list[tuple[str, dict[str, Any], int]] = []
    subscribed = threading.Event()
    listener = make_client(mqtt)
    listener.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload), m.qos))
    listener.on_subscribe = lambda *a: subscribed.set()
    listener.connect("127.0.0.1", broker)
    listener.subscribe("streamer/#", qos=1)
    listener.loop_start()
    try:
        assert subscribed.wait(5)
        sink = MqttSink(MqttSinkConfig(type="mqtt", host="127.0.0.1", port=broker, timeout_s=3))
        records = [make_record() for _ in range(5)]
        assert all(isinstance(o, Delivered) for o in send_in_order(sink, records))
        wait_for(lambda: len(got) >= 5, 5, "5 messages at the subscriber")
        sink.close()
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert [payload["eventId"] for _, payload, _ in got] == [r.event_id for r in records]
    assert {topic for topic, _, _ in got} == {"streamer/edge-box-07/events"}
    assert {qos for _, _, qos in got} == {1}


def test_mqtt_broker_down_is_retryable() -> None:
    port = free_port()
    sink = MqttSink(MqttSinkConfig(type="mqtt", host="127.0.0.1", port=port, timeout_s=1))
    outcomes = send_in_order(sink, [make_record()])
    assert not isinstance(outcomes[0], Delivered) and isinstance(outcomes[0], (Retry, Paused)) and "cannot connect" in outcomes[0].reason
    sink.close()
