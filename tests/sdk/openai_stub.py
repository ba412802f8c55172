"""A local HTTP server that answers like the OpenAI API, so the real ``openai`` client and instrumentations run.

It serves ``POST /v1/chat/completions`` (plain, and streamed as server-sent events with the usage chunk last when
``stream_options.include_usage`` is set), ``POST /v1/embeddings`` (float or base64 vectors, as the client asks) and
``POST /v1/responses`` (plain and streamed). Token counts are fixed per endpoint (``CHAT_USAGE`` and friends), so
tests can assert exact values; cached and reasoning counts sit in OpenAI's ``*_tokens_details`` objects.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


@dataclass
class Recorded:
    """One request the stub received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _chat_completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub1",
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
        "usage": CHAT_USAGE,
    }


def _chat_chunks(model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-stub1",
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
        yield {**base, "choices": [], "usage": CHAT_USAGE}


def _response(model: str, *, done: bool) -> dict[str, Any]:
    message = {
        "type": "message",
        "id": "msg_stub1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "".join(ANSWER), "annotations": [], "logprobs": []}],
    }
    return {
        "id": "resp_stub1",
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
        "usage": RESPONSES_USAGE if done else None,
        "user": None,
        "metadata": {},
    }


def _response_events(model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "response.created", {"response": _response(model, done=False)}
    for piece in ANSWER:
        yield (
            "response.output_text.delta",
            {"item_id": "msg_stub1", "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []},
        )
    yield "response.completed", {"response": _response(model, done=True)}


def _embeddings(model: str, encoding_format: str) -> dict[str, Any]:
    vector: Any = EMBEDDING
    if encoding_format == "base64":
        vector = base64.b64encode(struct.pack(f"<{len(EMBEDDING)}f", *EMBEDDING)).decode()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "model": model,
        "usage": EMBEDDINGS_USAGE,
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
        self.server.requests.append(Recorded(path, body, {k.lower(): v for k, v in self.headers.items()}))
        model = SNAPSHOTS.get(body.get("model", ""), body.get("model", ""))
        if path == "/v1/chat/completions":
            if not body.get("stream"):
                self._json(200, _chat_completion(model))
                return
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks: list[tuple[str | None, dict[str, Any] | str]] = [
                (None, chunk) for chunk in _chat_chunks(model, include_usage)
            ]
            self._events([*chunks, (None, "[DONE]")])
        elif path == "/v1/embeddings":
            self._json(200, _embeddings(model, body.get("encoding_format", "float")))
        elif path == "/v1/responses":
            if not body.get("stream"):
                self._json(200, _response(model, done=True))
                return
            events: list[tuple[str | None, dict[str, Any] | str]] = [
                (event, {"type": event, "sequence_number": number, **data})
                for number, (event, data) in enumerate(_response_events(model))
            ]
            self._events(events)
        else:
            error = {"message": f"Invalid URL (POST {path})", "type": "invalid_request_error", "code": None}
            self._json(404, {"error": error})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[Recorded]


class OpenAIStub:
    """The stub on 127.0.0.1 and a free port, serving from a background thread while the ``with`` block runs."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
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
