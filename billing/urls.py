"""Portal URLs for billing."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("funds/", views.add_funds, name="add-funds"),
    path("funds/history/", views.deposit_history, name="deposit-history"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("notifications/preferences/", views.notification_preferences, name="notification-preferences"),
    path("", include("billing.chains.urls")),
]
