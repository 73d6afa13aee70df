"""Portal URLs for billing."""

from django.urls import path

from . import views

urlpatterns = [
    path("funds/", views.add_funds, name="add-funds"),
    path("funds/history/", views.deposit_history, name="deposit-history"),
]
