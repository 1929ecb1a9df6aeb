"""The one error type of the server, with its gRPC status code and HTTP status."""

from __future__ import annotations

import grpc

_GRPC = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "INTERNAL": grpc.StatusCode.INTERNAL,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
}
# The mapping TF Serving's REST layer uses for these codes.
_HTTP = {"INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "INTERNAL": 500, "UNAVAILABLE": 503}


class ServingError(Exception):
    """A request that cannot be served.

    Args:
        code: "INVALID_ARGUMENT" (malformed request), "NOT_FOUND" (unknown model or version, as TF
            Serving answers), "INTERNAL" or "UNAVAILABLE".
        message: what was wrong and what was expected.
    """

    def __init__(self, code: str, message: str):
        if code not in _GRPC:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return _GRPC[self.code]

    @property
    def http_status(self) -> int:
        return _HTTP[self.code]


def invalid(message: str) -> ServingError:
    """Shorthand for an INVALID_ARGUMENT error."""
    return ServingError("INVALID_ARGUMENT", message)
