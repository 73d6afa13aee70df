"""allauth adapter: a new user gets a team of their own; a verified email accepts its invitations."""

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        from .services import account_create

        user = super().save_user(request, user, form, commit=commit)
        if commit:
            account_create(name=f"{user.email.split('@')[0]}'s team", owner=user, is_buyer=True)
        return user

    def confirm_email(self, request, email_address):
        from .services import invitations_accept_for_email

        # allauth reads the result: a None here would skip logging in on confirmation.
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            invitations_accept_for_email(user=email_address.user, email=email_address.email)
        return confirmed
