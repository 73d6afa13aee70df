from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("notifications/preferences/", views.notification_preferences, name="notification-preferences"),
]
