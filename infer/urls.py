"""URL map: the portal at /, the OpenAI-compatible gateway at /v1/, the JSON API at /api/, staff at /admin/."""

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

# A database outage raised outside a view is a 503 too; anything else is Django's plain 500.
handler500 = "infer.unavailable.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("accounts.api_urls")),
    path("api/", include("billing.api_urls")),
    path("api/", include("usage.api_urls")),
    path("api/", include("payouts.api_urls")),
    path("v1/", include("usage.gateway_urls")),
    path("", include("accounts.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("", include("usage.operator_urls")),
    path("", include("payouts.urls")),
    path("", include("kyc.urls")),
]

if settings.DEBUG:
    # uvicorn serves no static files; in development Django does (production: a CDN or the proxy).
    urlpatterns += staticfiles_urlpatterns()
