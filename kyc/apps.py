"""The kyc app: identity verification for operators, violations, and the staff back office."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class KycConfig(AppConfig):
    name = "kyc"
    verbose_name = "KYC and violations"

    def ready(self):
        from .roles import staff_groups_post_migrate

        # Sent for every app after `migrate`: runs once the payouts app's permissions exist too.
        post_migrate.connect(staff_groups_post_migrate, dispatch_uid="kyc_staff_groups")
