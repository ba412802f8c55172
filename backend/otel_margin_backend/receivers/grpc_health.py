"""The ``grpc.health.v1.Health`` service beside the OTLP services, for gRPC probes and load balancers.

It is open, like ``/healthz``: Kubernetes' gRPC probes and most load balancers send no credentials. It answers
SERVING for the server as a whole (service ``""``) and for each OTLP service once the backend has started, and
NOT_SERVING from the moment it starts stopping, so a balancer drains it before the port closes.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICES = (
    "",
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
)
"""What ``Check`` and ``Watch`` answer for: the whole server, then each OTLP service."""


class GrpcHealth:
    """grpcio's asyncio health servicer, with the backend's services and their states."""

    def __init__(self) -> None:
        self.servicer = health.aio.HealthServicer()

    def add_to(self, server: grpc.aio.Server) -> None:
        """Serve ``grpc.health.v1.Health`` on ``server`` (before it starts)."""
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def serving(self) -> None:
        """Every service SERVING (the backend has started)."""
        for service in SERVICES:
            await self.servicer.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def stopping(self) -> None:
        """Every service NOT_SERVING, for good (the backend is stopping)."""
        await self.servicer.enter_graceful_shutdown()
