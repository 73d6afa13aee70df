"""Retry an RPC call with exponential backoff: a flaky node slows a scan down but never loses a deposit."""

import logging
import time

from django.conf import settings

log = logging.getLogger(__name__)


class ChainRpcError(Exception):
    """An RPC call that kept failing after every retry; the scan stops and resumes from its cursor."""


def with_retries(call, *, what: str, retry_on: tuple[type[BaseException], ...] = (Exception,)):
    attempts = max(1, settings.CHAIN_RPC_ATTEMPTS)
    for attempt in range(attempts):
        try:
            return call()
        except retry_on as exc:
            if attempt == attempts - 1:
                raise ChainRpcError(f"{what} failed after {attempts} attempts: {exc}") from exc
            delay = settings.CHAIN_RPC_BACKOFF_MS / 1000 * 2**attempt
            log.warning("%s failed (%s); retrying in %.2fs", what, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
