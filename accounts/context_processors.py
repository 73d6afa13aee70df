"""Template context: the current Account and the user's other Accounts (for the switcher)."""

from .selectors import memberships_for_user


def current_account(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    account = getattr(request, "account", None)
    account = account if account else None  # resolve the lazy object
    return {
        "current_account": account,
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships_for_user(user=user),
    }
