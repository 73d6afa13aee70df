"""ASGI entry point: the gateway streams, so INFER is served by an ASGI server (uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infer.settings")

django_application = get_asgi_application()

from usage.asgi import application_with_gateway  # noqa: E402 — needs the apps loaded above

# /v1/ (the OpenAI-compatible gateway) skips the portal's sync-only middleware; see usage/asgi.py.
application = application_with_gateway(django_application)
