"""The OpenAI-compatible API, mounted at /v1/ (served without the portal's middleware: see usage/asgi.py)."""

from django.urls import path, re_path

from . import gateway

urlpatterns = [
    path("chat/completions", gateway.chat_completions, name="v1-chat-completions"),
    path("completions", gateway.completions, name="v1-completions"),
    path("models", gateway.models, name="v1-models"),
    re_path(r"^(?P<path>.*)$", gateway.not_found),
]
