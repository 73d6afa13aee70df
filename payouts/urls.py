from django.urls import path

from . import views

urlpatterns = [
    path("payouts/", views.payouts_page, name="payouts"),
    path("payouts/destinations/add/", views.destination_add, name="payout-destination-add"),
    path("payouts/destinations/<uuid:code>/remove/", views.destination_remove, name="payout-destination-remove"),
]
