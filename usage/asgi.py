"""The ASGI handler for /v1/: Django without the portal's middleware, so the gateway stays on the event loop.

The portal's middleware (sessions, CSRF, messages, allauth, the current Account) is sync-only and
would move every gateway request through a worker thread; /v1/ authenticates by API key and needs
none of it. URL routing, views and exception handling are Django's own.
"""

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response


class GatewayASGIHandler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        # Without Django's per-request ThreadSensitiveContext, which starts a thread for every request
        # only to run the request signals' sync receivers: they run on Django's one shared sync thread
        # instead. The gateway's own sync work (the database) runs in the loop's thread pool anyway.
        if scope["type"] != "http":
            raise ValueError("The gateway serves HTTP only")
        await self.handle(scope, receive, send)

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)


def application_with_gateway(portal_app):
    """Route /v1/'s hot endpoints to the lean path (usage/lean.py), the rest of /v1/ to the gateway
    handler, and everything else to the full Django application."""
    from . import lean, nodes  # imports models: only once Django is set up

    gateway_app = GatewayASGIHandler()

    async def lifespan(receive, send):
        # Shutting down, the event loop's node sessions and admission pool close their connections.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await nodes.sessions_close()
                await lean.pools_close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def application(scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            if lean.is_lean(scope):
                return await lean.serve(scope, receive, send)
            return await gateway_app(scope, receive, send)
        return await portal_app(scope, receive, send)

    return application
