"""The one registry of plugins: every detector, rule and sink the config file can name.

Each plugin module holds its config model (a ``kind`` or ``type`` Literal) and, on it, the
``build`` that makes the plugin, side by side. This list is the only place that knows them
all: the config's discriminated unions and the root model files are validated with come
from it. Adding a sink is one new module plus one line in ``SINKS``; its secrets are found
from its ``SecretStr`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, Union

from pydantic import BaseModel, Field, create_model

from streamer.detect.hog import HogModelConfig
from streamer.detect.onnx import OnnxModelConfig
from streamer.detect.replay import ReplayModelConfig
from streamer.detect.roboflow import RoboflowModelConfig
from streamer.rules.count import CountRuleConfig
from streamer.rules.line import LineRuleConfig
from streamer.rules.loiter import LoiterRuleConfig
from streamer.rules.ppe import MissingPpeRuleConfig
from streamer.rules.zone import ZoneRuleConfig
from streamer.schema.bases import ConfigBase, ModelBase, RuleBase, SinkBase
from streamer.sinks.bundle import BundleSinkConfig
from streamer.sinks.jsonl import JsonlSinkConfig
from streamer.sinks.mqtt import MqttSinkConfig
from streamer.sinks.vision_events import VisionEventsSinkConfig
from streamer.sinks.webhook import WebhookSinkConfig

MODELS: tuple[type[ModelBase], ...] = (
    OnnxModelConfig, RoboflowModelConfig, HogModelConfig, ReplayModelConfig,
)
RULES: tuple[type[RuleBase], ...] = (
    ZoneRuleConfig, CountRuleConfig, LineRuleConfig, LoiterRuleConfig, MissingPpeRuleConfig,
)
SINKS: tuple[type[SinkBase], ...] = (
    VisionEventsSinkConfig, JsonlSinkConfig, WebhookSinkConfig, MqttSinkConfig, BundleSinkConfig,
)


def tagged_union(classes: tuple[type[BaseModel], ...], key: str) -> Any:
    """The discriminated union of ``classes`` on ``key`` (pydantic names the unknown tag
    and lists the known ones in its error)."""
    return Annotated[Union[classes], Field(discriminator=key)]


@dataclass(frozen=True)
class Plugins:
    """A set of plugins: what a config file may name, and so the model it is read with."""

    models: tuple[type[ModelBase], ...] = MODELS
    rules: tuple[type[RuleBase], ...] = RULES
    sinks: tuple[type[SinkBase], ...] = SINKS

    def adding(
        self,
        models: tuple[type[ModelBase], ...] = (),
        rules: tuple[type[RuleBase], ...] = (),
        sinks: tuple[type[SinkBase], ...] = (),
    ) -> Plugins:
        """These plugins and more (a plugin kept outside the package, a test's)."""
        return replace(
            self, models=self.models + models, rules=self.rules + rules, sinks=self.sinks + sinks
        )

    def config_model(self) -> type[ConfigBase]:
        """The root model a config file naming these plugins is validated with."""
        return _config_model(self)


PLUGINS = Plugins()

if TYPE_CHECKING:
    # To the type checker an entry is its plugin base: the unions are made from the
    # registry when the module runs, which a static checker cannot follow.
    ModelConfig: TypeAlias = ModelBase
    RuleConfig: TypeAlias = RuleBase
    SinkConfig: TypeAlias = SinkBase
else:
    ModelConfig = tagged_union(MODELS, "kind")
    RuleConfig = tagged_union(RULES, "type")
    SinkConfig = tagged_union(SINKS, "type")


class Config(ConfigBase):
    """A whole config file with the built-in plugins (``PLUGINS``)."""

    models: list[ModelConfig] = Field(min_length=1)
    rules: list[RuleConfig] = Field(default_factory=list)
    sinks: list[SinkConfig] = Field(default_factory=list)


@cache
def _config_model(plugins: Plugins) -> type[ConfigBase]:
    """One model class per set of plugins (pydantic builds a validator per class)."""
    if plugins == PLUGINS:
        return Config
    return create_model(
        "Config",
        __base__=ConfigBase,
        models=(_list_of(tagged_union(plugins.models, "kind")), Field(min_length=1)),
        rules=(_list_of(tagged_union(plugins.rules, "type")), Field(default_factory=list)),
        sinks=(_list_of(tagged_union(plugins.sinks, "type")), Field(default_factory=list)),
    )


def _list_of(item: Any) -> Any:
    """``list[item]`` for an item type made at run time (written so, a checker reads the
    subscript as an annotation and refuses a call inside it)."""
    return list.__class_getitem__(item)
