"""The one tenant-scoping helper: every view and API reads through it, so a foreign object is a 404."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .authentication import KeyPrincipal


def request_account(request):
    """The Account a request acts for: the API key's, or the session's current Account."""
    user = getattr(request, "user", None)
    if isinstance(user, KeyPrincipal):
        return user.account
    account = getattr(request, "account", None)
    if account is None:
        # DRF wraps the Django request; the middleware set the attribute on the inner one.
        inner = getattr(request, "_request", None)
        account = getattr(inner, "account", None)
    return account


def scoped(queryset, request, *, field: str = "account"):
    """Filter a queryset to the request's Account; no Account means no rows."""
    account = request_account(request)
    if account is None:
        return queryset.none()
    return queryset.filter(**{field: account})


def scoped_get_or_404(queryset, request, *, field: str = "account", **lookup):
    """Fetch one object of the request's Account; another tenant's object is a 404, never a 403."""
    if request_account(request) is None:
        raise Http404
    return get_object_or_404(scoped(queryset, request, field=field), **lookup)


def request_membership(request):
    """The signed-in person's Membership in the request's Account; None for API keys and strangers."""
    user = getattr(request, "user", None)
    if user is None or isinstance(user, KeyPrincipal) or not user.is_authenticated:
        return None
    account = request_account(request)
    if not account:
        return None
    inner = getattr(request, "_request", request)
    return getattr(inner, "membership", None)
