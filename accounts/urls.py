from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("switch/<uuid:code>/", views.account_switch, name="account-switch"),
]
