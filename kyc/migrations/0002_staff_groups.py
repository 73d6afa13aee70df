"""Create the staff groups `support` and `finance` with their model permissions."""

from django.db import migrations

# Frozen here (a migration must not change meaning later); kyc/roles.py holds the living list that
# the post_migrate handler re-applies, e.g. the payouts permissions for finance.
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
GROUPS = {
    "support": [
        *MONEY_VIEW,
        "accounts.view_user",
        "kyc.view_kycsubmission",
        "kyc.review_kycsubmission",
        "kyc.view_kycdocument",
        "kyc.view_kycevent",
        "kyc.view_violation",
        "kyc.add_violation",
        "kyc.change_violation",
    ],
    "finance": [*MONEY_VIEW, "kyc.view_violation", "kyc.view_ledgeradjustment", "kyc.add_ledgeradjustment"],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); create them now so the
    # groups get them on a fresh database too.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, dotted in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for item in dotted:
            app_label, codename = item.split(".", 1)
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:
                group.permissions.add(permission)
        # Payouts permissions (all but deletions) for finance, if the payouts models exist already.
        if name == "finance":
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="payouts").exclude(codename__startswith="delete_")
            )


class Migration(migrations.Migration):
    dependencies = [
        ("kyc", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("billing", "0003_catalog"),
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
