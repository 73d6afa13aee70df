"""`python manage.py check_ledger`: verify every ledger invariant; exit non-zero with a report if one fails."""

import sys

from django.core.management.base import BaseCommand

from billing.checks import ledger_check


class Command(BaseCommand):
    help = "Verify the ledger: balanced transactions, cached balances, holds. Exits 1 on any problem."

    def handle(self, *args, **options):
        report = ledger_check()
        summary = f"{report.transactions} transactions, {report.entries} entries, {report.accounts} accounts"
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Ledger OK: {summary}"))
            return
        self.stderr.write(self.style.ERROR(f"Ledger check FAILED ({len(report.problems)} problems; {summary}):"))
        for problem in report.problems:
            self.stderr.write(f"  - {problem}")
        sys.exit(1)
