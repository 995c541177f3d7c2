"""Configuration: typed models, and the loader that points at bad lines."""

from gateway.config.loader import (
    ConfigError,
    ConfigIssue,
    default_config,
    load_config,
    parse_config,
)
from gateway.config.models import GatewayConfig, Provider, Providers
from gateway.config.policy import Policy

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "GatewayConfig",
    "Policy",
    "Provider",
    "Providers",
    "default_config",
    "load_config",
    "parse_config",
]
