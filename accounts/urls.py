"""Portal pages of accounts: dashboard, API keys, team, invitations, settings, the account switcher."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("switch/", views.account_switch_form, name="account-switch-form"),
    path("switch/<uuid:code>/", views.account_switch, name="account-switch"),
    path("keys/", views.api_keys, name="api-keys"),
    path("keys/<str:public_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("keys/<str:public_id>/limit/", views.api_key_limit, name="api-key-limit"),
    path("team/", views.team, name="team"),
    path("team/new/", views.team_create, name="team-create"),
    path("team/members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("team/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("team/invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("settings/", views.account_settings, name="account-settings"),
]
