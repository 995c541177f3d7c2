"""A resilience gateway for notifications: several flaky providers made to look like one
fast, reliable provider."""

__version__ = "0.1.0"
