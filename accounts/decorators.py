"""Small decorators for portal views."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404


def account_required(view):
    """A signed-in user acting for a current Account (request.account); otherwise a 404."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.account:
            raise Http404("No account")
        return view(request, *args, **kwargs)

    return wrapper
