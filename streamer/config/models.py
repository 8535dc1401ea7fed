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
from streamer.schema.base import MAX_POLYGON_POINTS, Loc, Point, StreamerModel
from streamer.schema.bases import ConfigBase, ModelBase, RuleBase, SinkBase, TrackRuleBase
from streamer.schema.checks import check_references, known_classes
from streamer.schema.network import (
    MIN_TOKEN_CHARS,
    bind_host,
    is_loopback,
    is_loopback_host,
    normal_host,
)
from streamer.schema.rule_parts import Anchor, CooldownScope, EventSpec, ScheduleConfig
from streamer.schema.secrets import config_secrets, secret_field_names
from streamer.schema.sections import (
    CameraConfig,
    FileLimitsConfig,
    LineConfig,
    MonitorConfig,
    OutboxConfig,
    TrackerConfig,
    ZoneConfig,
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
