from django.urls import path

from . import api

urlpatterns = [
    path("usage", api.UsageListApi.as_view(), name="api-usage"),
    path("usage/summary", api.UsageSummaryApi.as_view(), name="api-usage-summary"),
    path("usage/<uuid:request_id>", api.UsageDetailApi.as_view(), name="api-usage-record"),
]
