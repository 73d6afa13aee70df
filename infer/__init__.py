"""INFER: billing platform for an LLM-inference marketplace."""

from .celery import app as celery_app

__all__ = ("celery_app",)
