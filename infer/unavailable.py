"""503, not 500, when the database is unavailable: /api/ answers in DRF's error shape, the portal a plain page.

PostgreSQL refusing connections ("too many clients", a restart, a failover) is an outage the client
should wait out, not a bug: every view and middleware that touches the database raises Django's
OperationalError or InterfaceError (psycopg's, wrapped). One middleware, first in MIDDLEWARE, turns
those raised by a view (or by a template a view renders, with its context processors) into a 503
with `Retry-After`; `server_error`, the 500 handler, does the same for those raised by another
middleware (a session saved after the view). /v1/ does not come here: the gateway answers its own
503 (usage.gateway._database_unavailable).
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
API_MESSAGE = "The service is briefly unavailable (its database cannot be reached). Please retry shortly."


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` says the database cannot be reached or used right now (at connect or query time)."""
    return isinstance(exc, OperationalError | InterfaceError)


def unavailable_response(request, exc: BaseException) -> HttpResponse:
    """The 503 for `request`; logged here, once, as one warning line (no traceback: it is not a bug)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.warning("database unavailable, answering 503 to %s %s: %s", request.method, request.path, reason)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": API_MESSAGE, "code": "database_unavailable"}, status=503)
    else:
        # Rendered without the request: no context processor (they read the database) runs.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    # The warning above is this response's log line: Django's handler must not log it again as an error.
    response._has_been_logged = True
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """First in MIDDLEWARE, so its process_exception runs after every other middleware's has declined."""

    def process_exception(self, request, exception):
        if database_unavailable(exception):
            return unavailable_response(request, exception)
        return None


def server_error(request, template_name="500.html"):
    """handler500: an error raised outside a view (another middleware) that is the database's is a 503 too.

    Django calls it while handling the exception, so `sys.exc_info()` is that exception.
    """
    exc = sys.exc_info()[1]
    if database_unavailable(exc):
        return unavailable_response(request, exc)
    return defaults.server_error(request, template_name)
