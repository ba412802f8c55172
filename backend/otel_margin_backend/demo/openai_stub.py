"""A local HTTP server that answers like the OpenAI API, so the real ``openai`` client and instrumentations run.

Used by ``otel-margin demo`` (usage derived from the request, like the real API) and by the tests (fixed usage).

It serves ``POST /v1/chat/completions`` (plain, and streamed as server-sent events with the usage chunk last when
``stream_options.include_usage`` is set), ``POST /v1/embeddings`` (float or base64 vectors, as the client asks) and
``POST /v1/responses`` (plain and streamed). With ``fixed_usage`` (the default) token counts are fixed per
endpoint (``CHAT_USAGE`` and friends), so tests can assert exact values; ``ContentUsage`` derives them from the
request instead. Cached and reasoning counts sit in OpenAI's ``*_tokens_details`` objects.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otel_margin_backend.demo.ids import CALL_HEADER

CHAT_USAGE: dict[str, Any] = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 128,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": 900,
    "input_tokens_details": {"cached_tokens": 512},
    "output_tokens": 210,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 1110,
}
EMBEDDINGS_USAGE: dict[str, Any] = {"prompt_tokens": 8, "total_tokens": 8}
EMBEDDING = [0.25, -0.5, 0.125]
# The model that "answered": OpenAI reports the dated snapshot behind an alias.
SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "text-embedding-3-small": "text-embedding-3-small",
}
CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z
ANSWER = ["Margins ", "look ", "healthy."]


Endpoint = str
"""``chat``, ``responses`` or ``embeddings``."""
UsageFn = Callable[[Endpoint, dict[str, Any], str], dict[str, Any]]
"""(endpoint, request body, model) -> the ``usage`` object of the answer."""


def fixed_usage(endpoint: Endpoint, body: dict[str, Any], model: str) -> dict[str, Any]:
    """The same usage for every call to an endpoint (what the tests assert)."""
    return {"chat": CHAT_USAGE, "responses": RESPONSES_USAGE, "embeddings": EMBEDDINGS_USAGE}[endpoint]


class ContentUsage:
    """Usage as the real API would report it, roughly: tokens from the request's text and limits.

    Prompt tokens are the text's length / 4. Like OpenAI's prompt caching, a system prompt of 1024+ tokens that
    was seen before is served from cache in 128-token blocks. Output is the request's token limit (64 without
    one); o-series models spend half of it reasoning.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, endpoint: Endpoint, body: dict[str, Any], model: str) -> dict[str, Any]:
        """The response body for one request to ``endpoint`` with ``model``."""
        if endpoint == "embeddings":
            text = body.get("input", "")
            tokens = _tokens(" ".join(text) if isinstance(text, list) else str(text))
            return {"prompt_tokens": tokens, "total_tokens": tokens}
        messages = body.get("messages") or [
            {"role": "system", "content": body.get("instructions") or ""},
            {"role": "user", "content": body.get("input", "")},
        ]
        system = "".join(str(m.get("content", "")) for m in messages if m.get("role") in ("system", "developer"))
        prompt = _tokens("".join(str(m.get("content", "")) for m in messages))
        with self._lock:
            seen = system in self._seen
            self._seen.add(system)
        cached = (_tokens(system) // 128) * 128 if seen and _tokens(system) >= 1024 else 0
        output = int(body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or 64)
        reasoning = output // 2 if model.startswith(("o1", "o3", "o4")) else 0
        if endpoint == "responses":
            return {
                "input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": output,
                "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": prompt + output,
            }  # fmt: skip
        return {
            "prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }  # fmt: skip


def _tokens(text: str) -> int:
    return -(-len(text) // 4)


@dataclass
class Recorded:
    """One request the stub received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _chat_completion(model: str, usage: dict[str, Any], n: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-stub{n}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_stub",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(ANSWER), "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def _chat_chunks(model: str, include_usage: bool, usage_object: dict[str, Any], n: str) -> Iterator[dict[str, Any]]:
    base = {
        "id": f"chatcmpl-stub{n}",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_stub",
        "service_tier": "default",
    }
    usage: dict[str, Any] = {"usage": None} if include_usage else {}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": "", "refusal": None}]
    deltas += [{"content": piece} for piece in ANSWER]
    for delta in deltas:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        yield {**base, "choices": [choice], **usage}
    yield {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], **usage}
    if include_usage:
        yield {**base, "choices": [], "usage": usage_object}


def _response(model: str, usage: dict[str, Any], n: str, *, done: bool) -> dict[str, Any]:
    message = {
        "type": "message",
        "id": f"msg_stub{n}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "".join(ANSWER), "annotations": [], "logprobs": []}],
    }
    return {
        "id": f"resp_stub{n}",
        "object": "response",
        "created_at": CREATED,
        "status": "completed" if done else "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage if done else None,
        "user": None,
        "metadata": {},
    }


def _response_events(model: str, usage: dict[str, Any], n: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "response.created", {"response": _response(model, usage, n, done=False)}
    for piece in ANSWER:
        yield (
            "response.output_text.delta",
            {"item_id": f"msg_stub{n}", "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []},
        )
    yield "response.completed", {"response": _response(model, usage, n, done=True)}


def _embeddings(model: str, encoding_format: str, usage: dict[str, Any]) -> dict[str, Any]:
    vector: Any = EMBEDDING
    if encoding_format == "base64":
        vector = base64.b64encode(struct.pack(f"<{len(EMBEDDING)}f", *EMBEDDING)).decode()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "model": model,
        "usage": usage,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
        return

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "req_stub1")
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _events(self, events: list[tuple[str | None, dict[str, Any] | str]]) -> None:
        lines = []
        for event, data in events:
            if event is not None:
                lines.append(f"event: {event}\n")
            lines.append(f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
        self._send(200, "".join(lines).encode(), "text/event-stream; charset=utf-8")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?", 1)[0]
        if self.server.record:
            self.server.requests.append(Recorded(path, body, {k.lower(): v for k, v in self.headers.items()}))
        model = SNAPSHOTS.get(body.get("model", ""), body.get("model", ""))
        usage = self.server.usage
        # Every answer has its own id, as the API's do; a caller that names its call (the demo, so that a rerun
        # sends the same spans) gets the id derived from that name.
        n = self.headers.get(CALL_HEADER) or str(next(self.server.ids))
        if path == "/v1/chat/completions":
            if not body.get("stream"):
                self._json(200, _chat_completion(model, usage("chat", body, model), n))
                return
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks: list[tuple[str | None, dict[str, Any] | str]] = [
                (None, chunk) for chunk in _chat_chunks(model, include_usage, usage("chat", body, model), n)
            ]
            self._events([*chunks, (None, "[DONE]")])
        elif path == "/v1/embeddings":
            self._json(200, _embeddings(model, body.get("encoding_format", "float"), usage("embeddings", body, model)))
        elif path == "/v1/responses":
            answer = usage("responses", body, model)
            if not body.get("stream"):
                self._json(200, _response(model, answer, n, done=True))
                return
            events: list[tuple[str | None, dict[str, Any] | str]] = [
                (event, {"type": event, "sequence_number": number, **data})
                for number, (event, data) in enumerate(_response_events(model, answer, n))
            ]
            self._events(events)
        else:
            error = {"message": f"Invalid URL (POST {path})", "type": "invalid_request_error", "code": None}
            self._json(404, {"error": error})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[Recorded]
    usage: UsageFn
    record: bool
    ids: Iterator[int]


class OpenAIStub:
    """The stub on 127.0.0.1 and a free port, serving from a background thread while the ``with`` block runs."""

    def __init__(self, usage: UsageFn = fixed_usage, *, record: bool = True) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._server.usage = usage
        self._server.ids = itertools.count(1)
        self._server.record = record  # a long demo keeps no history
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-stub", daemon=True)

    @property
    def base_url(self) -> str:
        """What to pass as the client's ``base_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[Recorded]:
        """The requests received so far."""
        return self._server.requests

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
