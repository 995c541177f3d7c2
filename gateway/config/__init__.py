"""Configuration: typed models, and the loader that points at bad lines."""

from gateway.config.loader import ConfigError, ConfigIssue, load_config, parse_config
from gateway.config.models import GatewayConfig, Provider, Providers

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "GatewayConfig",
    "Provider",
    "Providers",
    "load_config",
    "parse_config",
]
