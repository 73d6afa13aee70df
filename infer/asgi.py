"""ASGI entry point: the gateway streams, so INFER is served by an ASGI server (uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infer.settings")

application = get_asgi_application()
