"""Why a connection failed, in one word, from whatever a client library raised.

The stripe SDK, requests/urllib3 and psycopg each wrap the operating system's error in their
own (an `APIConnectionError` around a `ConnectionError` around a `MaxRetryError` whose
`reason` is a `NewConnectionError` caused by `ConnectionRefusedError`). `network_problem` walks
that chain (causes, contexts, `reason`, exception arguments) for the error underneath, and
falls back on the messages' wording (psycopg says "Connection refused" in text only). The
sentences people read are made from the answer in `domain.setup.plain_errors`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from stripe2sf.domain.setup.plain_errors import NetworkProblem

_WORDING: tuple[tuple[NetworkProblem, tuple[str, ...]], ...] = (
    ("refused", ("connection refused",)),
    (
        "dns",
        (
            "name or service not known",
            "nodename nor servname",
            "failed to resolve",
            "could not translate host name",
            "temporary failure in name resolution",
            "no address associated with hostname",
            "getaddrinfo failed",
        ),
    ),
    ("tls", ("certificate verify failed", "ssl:", "sslerror", "wrong version number")),
    ("timeout", ("timed out", "timeout")),
    ("reset", ("connection reset", "connection aborted", "remote end closed", "broken pipe")),
    ("unreachable", ("network is unreachable", "no route to host")),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every error it wraps, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in linked if isinstance(e, BaseException)]


def network_problem(exc: BaseException) -> NetworkProblem:
    """'refused', 'dns', 'timeout', 'tls', 'reset', 'unreachable' or 'other'."""
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "refused"
        if isinstance(error, socket.gaierror):
            return "dns"
        if isinstance(error, ssl.SSLError):
            return "tls"
        if isinstance(error, TimeoutError):
            return "timeout"
        if isinstance(error, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            return "reset"
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain).lower()
    for problem, phrases in _WORDING:
        if any(phrase in text for phrase in phrases):
            return problem
    return "other"
