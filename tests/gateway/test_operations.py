"""Health, readiness, metrics and the OpenAPI document."""

import orjson

from gateway.config import default_config

SMS = orjson.dumps({"phone": "01712345678", "text": "hello"})
JSON = {"content-type": "application/json"}


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert "email/provider3" in ready["providers"]


def test_metrics_count_requests_and_upstream_attempts(client):
    client.post("/api/sms/provider1", content=SMS, headers=JSON)
    client.post("/api/sms/provider1", content=b"{}", headers=JSON)
    text = client.get("/metrics").text
    assert 'gateway_requests_total{route="transparent",status="200",type="sms"} 1.0' in text
    assert 'gateway_requests_total{route="transparent",status="400",type="sms"} 1.0' in text
    assert 'gateway_upstream_attempts_total{outcome="2xx",provider="sms/provider1"} 1.0' in text
    assert 'gateway_request_duration_seconds_count{route="transparent",type="sms"} 2.0' in text
    assert 'gateway_upstream_duration_seconds_count{provider="sms/provider1"} 1.0' in text


def test_the_openapi_document_lists_exactly_the_routes_served(client):
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for path, operations in document["paths"].items():
        for method in operations:
            concrete = path.replace("{id}", "no-such-id")
            response = client.request(method.upper(), concrete, content=b"{}", headers=JSON)
            assert response.status_code != 405, (method, path)
            # A 404 may only be the handler's own "no such id", never the router's.
            if response.status_code == 404:
                assert response.json()["error"] != "Not Found", (method, path)
    # Every route template of the app, expanded over the configured types and providers.
    config = default_config()
    expanded = set()
    for route in client.app.routes:
        if "{id}" in route.path:
            expanded.add(route.path)
            continue
        for message_type in ("sms", "email"):
            for name in config.providers.of(message_type):
                expanded.add(route.path.replace("{type}", message_type).replace("{provider}", name))
    assert set(document["paths"]) == expanded


def test_openapi_body_schemas_agree_with_validation(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["SmsMessage"]["required"] == ["phone", "text"]
    assert schemas["EmailMessage"]["required"] == ["subject", "body", "recipients"]
