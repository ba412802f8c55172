"""REST ``/v1/usage``: MarginDash-style payloads, idempotent by request id, bad items named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import psycopg

from tests.support.backend import AUTH, BackendThread
from tests.support.rows import count


def event(request_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "customer_id": "acct_9",
        "model_name": "gpt-4o-mini",
        "prompt_tokens": 2000,
        "completion_tokens": 150,
        "request_id": request_id,
        "timestamp": "2026-11-03T10:15:00Z",
        "feature": "support-bot",
        "provider": "openai",
    }
    base.update(overrides)
    return base


def post(backend: BackendThread, payload: object) -> httpx.Response:
    return httpx.post(f"{backend.http_url}/v1/usage", json=payload, headers=AUTH, timeout=30)


def rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT request_id, customer_id, feature, provider, model, input_tokens, cache_read_tokens,"
            " output_tokens, reasoning_tokens, reported_cost, reported_cost_source FROM usage_events"
            " ORDER BY request_id"
        ).fetchall()


def test_one_event_and_a_list(backend: BackendThread, db_url: str) -> None:
    one = post(backend, event("req-1", cached_tokens=1500, cost="0.000712"))
    assert one.status_code == 200 and one.json() == {"accepted": 1, "duplicates": 0, "differing": [], "rejected": []}
    many = post(backend, [event("req-2", event_type="search", reasoning_tokens=50), event("req-3", provider=None)])
    assert many.json() == {"accepted": 2, "duplicates": 0, "differing": [], "rejected": []}
    assert rows(db_url) == [
        (
            "req-1",
            "acct_9",
            "support-bot",
            "openai",
            "gpt-4o-mini",
            2000,
            1500,
            150,
            0,
            Decimal("0.000712"),
            "rest.cost",
        ),
        ("req-2", "acct_9", "support-bot", "openai", "gpt-4o-mini", 2000, 0, 150, 50, None, None),
        ("req-3", "acct_9", "support-bot", "openai", "gpt-4o-mini", 2000, 0, 150, 0, None, None),  # from the model
    ]


def test_the_same_request_id_is_stored_once(backend: BackendThread, db_url: str) -> None:
    for _ in range(3):
        assert post(backend, [event("req-1"), event("req-1")]).status_code == 200
    assert count(db_url) == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT sum(calls), sum(input_tokens) FROM usage_hourly").fetchone() == (1, 2000)


def test_invalid_items_are_named_and_valid_ones_kept(backend: BackendThread, db_url: str) -> None:
    response = post(
        backend,
        [
            event("ok-1"),
            event("bad-1", prompt_tokens=-3),
            event("bad-2", cached_tokens=5000),
            {"customer_id": "acct_9"},
            event("bad-3", timestamp="2026-11-03T10:15:00"),
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["request_id"]) for r in body["rejected"]] == [
        (1, "bad-1"),
        (2, "bad-2"),
        (3, None),
        (4, "bad-3"),
    ]
    assert body["rejected"][0]["error"] == "prompt_tokens: Input should be greater than or equal to 0"
    assert (
        body["rejected"][1]["error"] == "cached_tokens + cache_write_tokens exceed prompt_tokens (which include them)"
    )
    assert "model_name: Field required" in body["rejected"][2]["error"]
    assert body["rejected"][3]["error"] == "timestamp: timestamp needs a time zone (e.g. 2026-11-03T10:15:00Z)"
    assert [r[0] for r in rows(db_url)] == ["ok-1"]


def test_nothing_valid_is_a_400(backend: BackendThread, db_url: str) -> None:
    response = post(backend, [event("bad", completion_tokens="many")])
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "the entry is invalid (see details): fix and send again",
            "details": [
                {"index": 0, "request_id": "bad", "error": "completion_tokens: Input should be a valid integer"}
            ],
        }
    }
    garbage = httpx.post(
        f"{backend.http_url}/v1/usage", content=b"{", headers={**AUTH, "content-type": "application/json"}
    )
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert garbage.json()["error"]["message"].startswith("body is not valid JSON:")
    unauthorized = httpx.post(f"{backend.http_url}/v1/usage", json=event("x"))
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "UNAUTHENTICATED"
    form = httpx.post(f"{backend.http_url}/v1/usage", data={"a": "b"}, headers=AUTH)
    assert (form.status_code, form.json()["error"]["code"]) == (415, "INVALID_ARGUMENT")
    assert count(db_url) == 0
