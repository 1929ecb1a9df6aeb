"""The error types of the server (`ServingError` with its gRPC status code and HTTP status)."""

from __future__ import annotations

import grpc

_GRPC = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "INTERNAL": grpc.StatusCode.INTERNAL,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "DEADLINE_EXCEEDED": grpc.StatusCode.DEADLINE_EXCEEDED,
}
# The mapping TF Serving's REST layer uses for these codes (DEADLINE_EXCEEDED: Google's HTTP mapping).
_HTTP = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# gRPC carries the message in a trailer, and clients refuse trailers above 8 KiB (RESOURCE_EXHAUSTED
# instead of the real error), so no message may grow with the size of what a client sent.
MAX_MESSAGE_CHARS = 2000
MAX_NAME_CHARS = 64


def clip(value, limit: int = MAX_NAME_CHARS) -> str:
    """`repr(value)` cut to about `limit` characters, for echoing client-supplied names in messages."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text)} chars)"


def clip_names(names, most: int = 10) -> str:
    """A sorted list of client-supplied names for a message: each clipped, at most `most` of them."""
    names = sorted(names)
    shown = ", ".join(clip(n) for n in names[:most])
    more = f", ... {len(names) - most} more" if len(names) > most else ""
    return f"[{shown}{more}]"


class ServingError(Exception):
    """A request that cannot be served.

    Args:
        code: "INVALID_ARGUMENT" (malformed request), "NOT_FOUND" (unknown model or version, as TF
            Serving answers), "INTERNAL", "UNAVAILABLE" or "DEADLINE_EXCEEDED" (the request's deadline
            passed; its computation was cancelled).
        message: what was wrong and what was expected.
    """

    def __init__(self, code: str, message: str):
        if code not in _GRPC:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        if len(message) > MAX_MESSAGE_CHARS:  # the safety net; messages clip names themselves
            message = message[:MAX_MESSAGE_CHARS] + f"... ({len(message)} chars)"
        self.message = message
        super().__init__(f"{code}: {message}")

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return _GRPC[self.code]

    @property
    def http_status(self) -> int:
        return _HTTP[self.code]


class BodyRefusedError(ServingError):
    """A request body refused before (or while) reading it (INVALID_ARGUMENT).

    The REST server closes the connection after answering, since the body's unread rest would
    otherwise be parsed as the next request.
    """

    def __init__(self, message: str):
        super().__init__("INVALID_ARGUMENT", message)


def invalid(message: str) -> ServingError:
    """Shorthand for an INVALID_ARGUMENT error."""
    return ServingError("INVALID_ARGUMENT", message)
