"""omnihub's gRPC servers take a burst of concurrent calls without cancelling any."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from omnihub.common.grpcserver import new_server


async def test_a_burst_of_calls_waits_for_the_event_loop_instead_of_being_cancelled() -> None:
    server = new_server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        # 4,000 calls at once on one channel: grpc's default server cancels those past ~1,000 waiting.
        results = await asyncio.gather(*(stub.Check(health_pb2.HealthCheckRequest()) for _ in range(4000)),
                                       return_exceptions=True)
    finally:
        await channel.close(None)
        await server.stop(None)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} calls failed, first: {failed[0]!r}"
    assert all(r.status == health_pb2.HealthCheckResponse.SERVING for r in results)  # type: ignore[union-attr]
