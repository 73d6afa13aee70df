"""Portal URLs of kyc: the operator's KYC page and the staff-only document view."""

from django.urls import path

from . import views

urlpatterns = [
    path("kyc/", views.kyc_page, name="kyc"),
    path("kyc/documents/<uuid:code>/", views.document_view, name="kyc-document"),
]
