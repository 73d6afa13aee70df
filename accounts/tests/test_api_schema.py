"""/api/schema/ documents the keys API, with API keys as bearer authentication."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_documents_the_keys_api_with_bearer_keys(alice_client):
    response = alice_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in (
        "/api/keys",
        "/api/keys/{public_id}",
        "/api/keys/{public_id}/revoke",
        "/api/keys/{public_id}/spend-limit",
    ):
        assert path in schema["paths"]
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    # Nested Input/OutputSerializers get names of their own instead of colliding as "Input"/"Output".
    assert "KeyListApiInput" in schema["components"]["schemas"]
    assert "Output" not in schema["components"]["schemas"]
