"""The database stops mid-stream: clients are told to retry, and nothing is lost or doubled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import psycopg
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_margin_backend.storage.migrator import migrate
from tests.support.backend import AUTH, TOKEN, running_backend
from tests.support.pgcluster import PgCluster
from tests.support.spans import chat_attrs, request, span
from tests.support.stores import READER_ROLE, TIMESCALE_SETTINGS


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    with PgCluster(settings=TIMESCALE_SETTINGS) as c:
        with psycopg.connect(c.dsn("postgres"), autocommit=True) as conn:
            migrate(conn, reader_role=READER_ROLE, reader_password=None)
        yield c


def test_clients_get_unavailable_with_a_retry_hint_while_the_database_is_down(
    cluster: PgCluster, tmp_path: Path
) -> None:
    with running_backend(cluster.dsn("postgres"), tmp_path, db_connect_timeout_s=1.0) as backend:
        cluster.pause()
        try:
            with (
                grpc.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as channel,
                pytest.raises(grpc.RpcError) as err,
            ):
                TraceServiceStub(channel).Export(request([span(1, chat_attrs())]), metadata=list(AUTH.items()))
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            trailers = dict(err.value.trailing_metadata() or ())
            info = error_details_pb2.RetryInfo()
            assert status_pb2.Status.FromString(trailers["grpc-status-details-bin"]).details[0].Unpack(info)
            assert info.retry_delay.seconds >= 1

            response = httpx.post(
                f"{backend.http_url}/v1/traces",
                content=request([span(2, chat_attrs())]).SerializeToString(),
                headers={"content-type": "application/x-protobuf", **AUTH},
                timeout=30,
            )
            assert response.status_code == 503
            assert int(response.headers["retry-after"]) >= 1
            ready = httpx.get(f"{backend.http_url}/readyz", timeout=30)
            assert ready.status_code == 503
        finally:
            cluster.resume()


def test_a_retrying_sdk_exporter_delivers_everything_exactly_once(cluster: PgCluster, tmp_path: Path) -> None:
    url = cluster.dsn("postgres")
    with running_backend(url, tmp_path, db_connect_timeout_s=1.0) as backend:
        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{backend.grpc_port}",
            insecure=True,
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        provider = TracerProvider(resource=Resource.create({"service.name": "retry-test"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")

        def emit(first: int, last: int) -> None:
            for n in range(first, last):
                with tracer.start_as_current_span("chat gpt-4o", attributes=chat_attrs(customer=f"acct_{n}")):
                    pass

        emit(0, 5)  # database up
        cluster.pause()
        outage = threading.Thread(target=emit, args=(5, 10))  # each export blocks, retrying, until the db is back
        outage.start()
        time.sleep(3)
        cluster.resume()
        outage.join(timeout=120)
        assert not outage.is_alive()
        emit(10, 12)
        provider.shutdown()

    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT customer_id, count(*) FROM usage_events GROUP BY 1 ORDER BY 1").fetchall()
        rolled = conn.execute("SELECT sum(calls), sum(input_tokens) FROM usage_hourly").fetchone()
    assert stored == [(f"acct_{n}", 1) for n in sorted(range(12), key=str)]
    assert rolled == (12, 12 * 1200)
