"""gRPC servers that take bursts: calls wait for the event loop instead of being cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

# grpc C-core cancels (status CANCELLED) calls the application has not picked up yet once more than
# `grpc.server.max_pending_requests` (default 1,000; hard limit 3,000) are waiting. An asyncio server
# picks calls up between other work, so a burst of a few thousand agents' accepts lost hundreds of
# them (each offer then waited out its reservation). The limits stay, only higher.
MAX_PENDING = 20_000
MAX_PENDING_HARD = 50_000
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def new_server(interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = ()) -> grpc.aio.Server:
    """An asyncio gRPC server with omnihub's limits (pending calls, message size) and `interceptors`
    (omnihub.common.identity's service-token check on every API server)."""
    return grpc.aio.server(interceptors=list(interceptors), options=[
        ("grpc.server.max_pending_requests", MAX_PENDING),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_HARD),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ])
