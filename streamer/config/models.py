"""The YAML reference, as one import: the root ``Config`` and every model it holds.

The models themselves live where they are used: the sections every camera has and the
checks across sections in :mod:`streamer.schema` (the package's lowest layer), each
plugin's config beside its plugin, the root model in :mod:`streamer.plugins`. This module
only gathers them for the loader, the CLI and readers of the reference.
"""

from __future__ import annotations

from streamer.detect.hog import HogModelConfig
from streamer.detect.onnx import OnnxModelConfig, OnnxProvider
from streamer.detect.replay import ReplayModelConfig
from streamer.detect.roboflow import RoboflowModelConfig
from streamer.plugins import PLUGINS, Config, ModelConfig, Plugins, RuleConfig, SinkConfig
from streamer.rules.count import CountRuleConfig
from streamer.rules.line import LineRuleConfig
from streamer.rules.loiter import LoiterRuleConfig
from streamer.rules.ppe import MissingPpeRuleConfig
from streamer.rules.zone import ZoneRuleConfig
from streamer.schema import (
    MAX_POLYGON_POINTS,
    MIN_TOKEN_CHARS,
    Anchor,
    CameraConfig,
    ConfigBase,
    CooldownScope,
    EventSpec,
    FileLimitsConfig,
    LineConfig,
    Loc,
    ModelBase,
    MonitorConfig,
    OutboxConfig,
    Point,
    RuleBase,
    ScheduleConfig,
    SinkBase,
    StreamerModel,
    TrackerConfig,
    TrackRuleBase,
    ZoneConfig,
    bind_host,
    check_references,
    config_secrets,
    is_loopback,
    is_loopback_host,
    known_classes,
    normal_host,
    secret_field_names,
)
from streamer.sinks.bundle import BundleSinkConfig
from streamer.sinks.jsonl import JsonlSinkConfig
from streamer.sinks.mqtt import MQTT_TOPIC_FIELDS, MqttSinkConfig, check_mqtt_topic
from streamer.sinks.vision_events import VisionEventsSinkConfig
from streamer.sinks.webhook import WebhookSinkConfig

__all__ = [
    "MAX_POLYGON_POINTS", "MIN_TOKEN_CHARS", "MQTT_TOPIC_FIELDS", "PLUGINS", "Anchor",
    "BundleSinkConfig", "CameraConfig", "Config", "ConfigBase", "CooldownScope",
    "CountRuleConfig", "EventSpec", "FileLimitsConfig", "HogModelConfig", "JsonlSinkConfig",
    "LineConfig", "LineRuleConfig", "Loc", "LoiterRuleConfig", "MissingPpeRuleConfig",
    "ModelBase", "ModelConfig", "MonitorConfig", "MqttSinkConfig", "OnnxModelConfig",
    "OnnxProvider", "OutboxConfig", "Plugins", "Point", "ReplayModelConfig",
    "RoboflowModelConfig", "RuleBase", "RuleConfig", "ScheduleConfig", "SinkBase",
    "SinkConfig", "StreamerModel", "TrackRuleBase", "TrackerConfig", "VisionEventsSinkConfig",
    "WebhookSinkConfig", "ZoneConfig", "ZoneRuleConfig", "bind_host", "check_mqtt_topic",
    "check_references", "config_secrets", "is_loopback", "is_loopback_host", "known_classes",
    "normal_host", "secret_field_names",
]
