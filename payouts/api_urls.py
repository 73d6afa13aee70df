from django.urls import path

from . import api

urlpatterns = [
    path("payouts", api.PayoutListApi.as_view(), name="api-payouts"),
    path("payouts/destinations", api.DestinationListApi.as_view(), name="api-payout-destinations"),
    path("payouts/<uuid:code>", api.PayoutDetailApi.as_view(), name="api-payout"),
]
