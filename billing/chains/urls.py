"""Portal URLs for USDC deposits: the deposit page and its history fragment (polled by the page)."""

from django.urls import path

from . import views

urlpatterns = [
    path("deposits/usdc/", views.usdc_deposits, name="usdc-deposits"),
    path("deposits/usdc/history/", views.chain_deposit_history, name="chain-deposit-history"),
]
