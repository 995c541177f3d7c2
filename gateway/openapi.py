"""The OpenAPI 3 document of the gateway, built from the config it serves.

Paths are listed per configured provider (rather than templated) so the
document is exactly what this gateway answers; a test walks the app's routes
and the document against each other so neither can drift.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.config.models import GatewayConfig
from gateway.messages import EMAIL_PATTERN, MESSAGE_TYPES, PHONE_PATTERN

_NON_BLANK = {"type": "string", "minLength": 1, "pattern": r"\S"}

SCHEMAS: dict[str, Any] = {
    "SmsMessage": {
        "type": "object",
        "required": ["phone", "text"],
        "properties": {
            "phone": {
                "type": "string",
                "pattern": f"^{PHONE_PATTERN.pattern}$",
                "description": "Bangladeshi mobile number, optionally prefixed by 88 or +88.",
                "example": "01712345678",
            },
            "text": {**_NON_BLANK, "example": "Your code is 123456"},
        },
    },
    "EmailMessage": {
        "type": "object",
        "required": ["subject", "body", "recipients"],
        "properties": {
            "subject": {**_NON_BLANK, "example": "Welcome"},
            "body": {**_NON_BLANK, "example": "Hello from the gateway"},
            "recipients": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "pattern": f"^{EMAIL_PATTERN.pattern}$"},
                "example": ["alice@example.com"],
            },
        },
    },
    "ProviderAccepted": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string", "example": "SMS sent via Provider 1"}},
    },
    "ProviderFailed": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "example": "Failed to send sms via Provider 1"}},
    },
    "InvalidMessage": {
        "type": "object",
        "required": ["error", "field", "errors"],
        "properties": {
            "error": {"type": "string", "description": "The text a provider would answer."},
            "field": {"type": "string", "description": "The first field at fault."},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "Exhausted": {
        "type": "object",
        "required": ["error", "reason", "attempts"],
        "properties": {
            "error": {"type": "string"},
            "reason": {"type": "string"},
            "attempts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "provider": {"type": "string"},
                        "outcome": {"type": "string"},
                        "duration_ms": {"type": "number"},
                        "hedge": {"type": "boolean"},
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "provider": {"type": "string"},
            "outcome": {"type": "string"},
        },
    },
}

_SCHEMA_OF_TYPE = {"sms": "SmsMessage", "email": "EmailMessage"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _send_operation(message_type: str, provider: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"Send {message_type} through {provider}, as the provider itself would",
            "operationId": f"send_{message_type}_{provider}",
            "tags": ["transparent"],
            "parameters": [
                {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
                {"name": "traceparent", "in": "header", "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(_SCHEMA_OF_TYPE[message_type])}},
            },
            "responses": {
                "200": _json("ProviderAccepted", "The provider sent the message."),
                "400": _json("InvalidMessage", "Refused before any provider call."),
                "413": _json("Error", "Body larger than server.max_body_bytes."),
                "500": _json("ProviderFailed", "The provider failed to send."),
                "502": _json("Error", "The provider refused or dropped the connection."),
                "504": _json("Error", "The provider did not answer in time."),
            },
        }
    }


def _virtual_operation(message_type: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"Send {message_type}; the gateway picks providers by the route's policy",
            "operationId": f"send_{message_type}",
            "tags": ["virtual"],
            "parameters": [
                {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
                {
                    "name": "Prefer",
                    "in": "header",
                    "description": "respond-async: answer 202 at once, deliver in the background.",
                    "schema": {"type": "string"},
                },
                {
                    "name": "X-Request-Timeout",
                    "in": "header",
                    "description": "How long the caller waits: 1500 (ms), 1500ms or 1.5s.",
                    "schema": {"type": "string"},
                },
                {"name": "traceparent", "in": "header", "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(_SCHEMA_OF_TYPE[message_type])}},
            },
            "responses": {
                "200": _json(
                    "ProviderAccepted", "Delivered; X-Gateway-Provider names the provider."
                ),
                "400": _json("InvalidMessage", "Refused before any provider call."),
                "413": _json("Error", "Body larger than server.max_body_bytes."),
                "502": _json("Exhausted", "Every attempt failed; each is listed."),
                "202": {
                    "description": "Accepted for background delivery (Prefer: respond-async, "
                    "or the policy's mode); Location names the status URL.",
                    "content": {"application/json": {}},
                },
                "409": _json("Error", "A request with this Idempotency-Key is in flight."),
                "422": _json("Error", "This Idempotency-Key was used with another request."),
                "503": _json("Exhausted", "No provider available (breakers open, budget spent)."),
            },
        }
    }


def _get(summary: str, content_type: str = "application/json") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": "OK", "content": {content_type: {}}}},
        }
    }


def document(config: GatewayConfig) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a gateway serving `config`."""
    paths: dict[str, Any] = {}
    for message_type in MESSAGE_TYPES:
        if config.providers.of(message_type):
            paths[f"/api/{message_type}"] = _virtual_operation(message_type)
        for provider in config.providers.of(message_type):
            paths[f"/api/{message_type}/{provider}"] = _send_operation(message_type, provider)
    paths["/api/messages/{id}"] = {
        "get": {
            "summary": "Where an accepted (202) message is: queued, sending, delivered, failed",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "The message's state", "content": {"application/json": {}}},
                "404": _json("Error", "No message with this id."),
            },
        }
    }
    paths["/admin/outbox"] = _get("How many messages are in each state")
    paths["/admin/dead-letters"] = _get("Messages given up on, oldest first (?limit=N)")
    paths["/admin/dead-letters/{id}/requeue"] = {
        "post": {
            "summary": "Try a dead letter again, due now",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "Queued again", "content": {"application/json": {}}},
                "404": _json("Error", "No dead letter with this id."),
            },
        }
    }
    paths["/healthz"] = _get("Liveness: the process answers")
    paths["/readyz"] = _get("Readiness: config loaded and providers configured")
    paths["/metrics"] = _get("Prometheus metrics", "text/plain")
    paths["/openapi.json"] = _get("This document")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Notification resilience gateway", "version": __version__},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
