"""The gateway's connection pool to the nodes: httpcore's own, with requests assigned in linear time.

httpcore 1.0's pool re-examines every connection whenever a request starts or ends: it polls the
socket of each idle connection (`has_expired`) and, for each connection, counts all of them again
(quadratic in the connections). With 16-64 keep-alive connections to busy nodes this was the
gateway's largest CPU cost, about 1 ms per request at concurrency 16. `NodeConnectionPool` keeps
everything else of httpcore (connections, HTTP/1.1, TLS, the request queue, streams, timeouts and
errors, which httpx maps as usual) and changes how requests find connections:

- a queued request takes the most recently used available connection for its origin, and only that
  one is checked for expiry before it is reused (one poll per request, not one per idle connection);
- the idle connections are swept for expiry (server closed them, keep-alive timed out) at most once
  a second, and surplus idle connections beyond `max_keepalive_connections` are closed, as before.

Pinned with httpcore (requirements.txt): `_assign_requests_to_connections` is httpcore's extension
point for exactly this, but a private one; usage/tests/test_node_pool.py covers the behaviour relied on.
"""

import time

import httpcore
import httpx

SWEEP_SECONDS = 1.0


class NodeConnectionPool(httpcore.AsyncConnectionPool):
    _swept_at = 0.0

    def _assign_requests_to_connections(self) -> list:
        closing = []
        connections = [c for c in self._connections if not c.is_closed()]
        # Connections given to a request (HTTP/1.1: one at a time), including one whose request has
        # not started yet (its connection still looks idle): never reassigned, never closed here.
        taken = {id(r.connection) for r in self._requests if r.connection is not None}

        def spare():
            return [c for c in connections if id(c) not in taken and c.is_idle()]

        now = time.monotonic()
        if now - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = now
            for connection in [c for c in spare() if c.has_expired()]:
                connections.remove(connection)
                closing.append(connection)
        idle = spare()
        for connection in idle[: max(0, len(idle) - self._max_keepalive_connections)]:
            connections.remove(connection)
            closing.append(connection)

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            chosen = None
            for connection in reversed(connections):  # the most recently used first: a small warm set
                if id(connection) in taken or not connection.can_handle_request(origin):
                    continue
                if connection.is_available():
                    if connection.has_expired():
                        connections.remove(connection)
                        closing.append(connection)
                        continue  # safe: reversed() over a list shortened behind the iterator
                    chosen = connection
                    break
            if chosen is None:
                if len(connections) >= self._max_connections:
                    idle = spare()
                    if not idle:
                        continue  # the request waits until a connection comes free
                    connections.remove(idle[0])
                    closing.append(idle[0])
                chosen = self.create_connection(origin)
                connections.append(chosen)
            else:
                # Most recently used at the end, so the next request finds it first.
                connections.remove(chosen)
                connections.append(chosen)
            pool_request.assign_to_connection(chosen)
            taken.add(id(chosen))

        self._connections = connections
        return closing


class NodeTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the pool above (plain HTTP/1.1, no proxy from the environment)."""

    def __init__(self, *, limits: httpx.Limits):
        super().__init__(limits=limits, trust_env=False)
        self._pool = NodeConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
