"""Sets `request.account`: the signed-in user's current Account (switchable, kept in the session)."""

from django.utils.functional import SimpleLazyObject

SESSION_KEY = "current_account_code"


def _current_account(request):
    from .selectors import membership_current

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    membership = membership_current(user=user, account_code=request.session.get(SESSION_KEY))
    if membership is None:
        return None
    request.membership = membership
    return membership.account


class CurrentAccountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.account = SimpleLazyObject(lambda: _current_account(request))
        return self.get_response(request)
