"""`python manage.py chain_scan NETWORK [--from-block N]`: scan one network now, optionally rescanning from a block."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.chains import scanning, services
from billing.chains.hd import EVM_NETWORKS
from billing.chains.retry import ChainRpcError


class Command(BaseCommand):
    help = (
        "Scan a network for USDC deposits now (what the beat task does). --from-block rescans an EVM "
        "network from that block: safe, since every transfer is recorded and credited at most once."
    )

    def add_arguments(self, parser):
        parser.add_argument("network", choices=settings.CHAIN_NETWORKS)
        parser.add_argument("--from-block", type=int, help="EVM only: rescan from this block number")

    def handle(self, *args, network, from_block=None, **options):
        if from_block is not None:
            if network not in EVM_NETWORKS:
                raise CommandError("--from-block applies to EVM networks (ethereum, base)")
            if from_block < 0:
                raise CommandError("--from-block must be 0 or more")
            services.chain_cursor_rewind(network=network, block_number=from_block - 1)
        try:
            report = scanning.chain_scan(network=network)
        except ChainRpcError as exc:
            raise CommandError(str(exc)) from exc
        if report is None:
            self.stdout.write(f"{network}: not scanned (no CHAIN_{network.upper()}_RPC_URL, or a scan is running)")
        else:
            self.stdout.write(self.style.SUCCESS(f"{network}: {report}"))
