from django.urls import path

from . import api

urlpatterns = [
    path("balance", api.BalanceApi.as_view(), name="api-balance"),
    path("deposits", api.DepositsApi.as_view(), name="api-deposits"),
    path("deposits/<str:deposit_id>", api.DepositDetailApi.as_view(), name="api-deposit"),
]
