from django.urls import path

from . import api

urlpatterns = [
    path("balance", api.BalanceApi.as_view(), name="api-balance"),
]
