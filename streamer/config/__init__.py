"""Config: the pydantic models (the YAML reference) and the loader that reads them."""

from streamer.config.loader import load_config, parse_config
from streamer.config.models import Config

__all__ = ["Config", "load_config", "parse_config"]
