"""Portal URLs for usage."""

from django.urls import path

from . import views

urlpatterns = [
    path("usage/", views.usage_logs, name="usage-logs"),
    path("usage/<uuid:request_id>/", views.usage_record, name="usage-record"),
]
