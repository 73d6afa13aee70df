"""The Celery application: thin tasks in each app's tasks.py, Redis or an embedded broker."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infer.settings")

app = Celery("infer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
