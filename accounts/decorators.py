"""Small decorators for portal views."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect


def account_required(view):
    """A signed-in user acting for a current Account (request.account, request.membership).

    A user who belongs to no team (they left their last one) is sent to create one.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.account:
            return redirect("team-create")
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view):
    """Like account_required, for owners and admins only: a member gets a 403 (it is their own team)."""

    @account_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins of this team can do that.")
        return view(request, *args, **kwargs)

    return wrapper
