from django.urls import path

from . import api, streams

urlpatterns = [
    path("balance", api.BalanceApi.as_view(), name="api-balance"),
    path("deposits", api.DepositsApi.as_view(), name="api-deposits"),
    path("deposits/<str:deposit_id>", api.DepositDetailApi.as_view(), name="api-deposit"),
    path("notifications", api.NotificationsApi.as_view(), name="api-notifications"),
    path("notifications/read", api.NotificationsReadApi.as_view(), name="api-notifications-read"),
    path("notifications/<int:notification_id>/read", api.NotificationReadApi.as_view(), name="api-notification-read"),
    path("notifications/stream", streams.notifications_stream, name="api-notifications-stream"),
]
