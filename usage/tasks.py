"""Celery tasks for usage: thin wrappers over services.

Holds of requests that died without settling are released by billing.tasks.holds_expire (beat,
every 30 s); settlement itself never goes through Celery: it is on the request path (usage/settlement.py).
"""

from celery import shared_task

from . import services


@shared_task
def operator_nodes_suspend(account_id: int, reason: str) -> int:
    from accounts.models import Account

    return services.operator_nodes_suspend(account=Account.objects.get(id=account_id), reason=reason)


@shared_task
def usage_rollup_task() -> int:
    return services.usage_rollup()


@shared_task
def usage_records_purge_task() -> int:
    return services.usage_records_purge()
