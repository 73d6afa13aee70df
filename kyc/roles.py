"""Staff roles as Django groups: which model permissions `support` and `finance` carry.

The kyc migration 0002 creates both groups with these permissions; a post_migrate handler
(`staff_groups_sync`, connected in apps.py) re-applies them after every `migrate`, which is how
`finance` gets the payouts app's permissions once its models exist, whichever branch lands first.
Permissions are only ever added here, so a superuser may still grant more by hand.
"""

from django.db import DEFAULT_DB_ALIAS

SUPPORT = "support"
FINANCE = "finance"

# Read-only on money: the ledger, holds and prices are visible, never changed.
MONEY_VIEW = [
    "billing.view_ledgeraccount",
    "billing.view_transaction",
    "billing.view_entry",
    "billing.view_hold",
    "billing.view_tier",
    "billing.view_catalogmodel",
    "accounts.view_account",
    "accounts.view_membership",
]
# Evidence for violations and adjustments: nodes and usage records, read-only (usage registers the admin).
USAGE_VIEW = ["usage.view_node", "usage.view_nodemodel", "usage.view_usagerecord"]

GROUP_PERMISSIONS = {
    SUPPORT: [
        *MONEY_VIEW,
        *USAGE_VIEW,
        "accounts.view_user",
        "kyc.view_kycsubmission",
        "kyc.review_kycsubmission",
        "kyc.view_kycdocument",
        "kyc.view_kycevent",
        "kyc.view_violation",
        "kyc.add_violation",
        "kyc.change_violation",
    ],
    FINANCE: [
        *MONEY_VIEW,
        *USAGE_VIEW,
        "kyc.view_violation",
        "kyc.view_ledgeradjustment",
        "kyc.add_ledgeradjustment",
    ],
}

# Every permission of these apps goes to the group except deletions: payouts are never deleted.
GROUP_APPS = {FINANCE: ["payouts"]}


def _permissions_for(Permission, group_name):
    wanted = GROUP_PERMISSIONS.get(group_name, [])
    found = []
    for dotted in wanted:
        app_label, codename = dotted.split(".", 1)
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:  # an app that is not migrated yet gets its turn on the next migrate
            found.append(permission)
    for app_label in GROUP_APPS.get(group_name, []):
        found.extend(
            Permission.objects.filter(content_type__app_label=app_label).exclude(codename__startswith="delete_")
        )
    return found


def staff_groups_sync(*, Group=None, Permission=None) -> None:
    """Create the staff groups if missing and give them (at least) their permissions."""
    if Group is None or Permission is None:
        from django.contrib.auth.models import Group, Permission
    for name in GROUP_PERMISSIONS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions_for(Permission, name))


def staff_groups_post_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    if using != DEFAULT_DB_ALIAS:
        return
    staff_groups_sync()
