"""JSON API routes of accounts, mounted at /api/."""

from django.urls import path

from . import api

urlpatterns = [
    path("keys", api.KeyListApi.as_view(), name="api-keys-list"),
    path("keys/<str:public_id>", api.KeyDetailApi.as_view(), name="api-keys-detail"),
    path("keys/<str:public_id>/spend-limit", api.KeySpendLimitApi.as_view(), name="api-keys-spend-limit"),
    path("keys/<str:public_id>/revoke", api.KeyRevokeApi.as_view(), name="api-keys-revoke"),
]
