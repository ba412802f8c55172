"""Local stand-ins for the Anthropic and Gemini APIs, answering in each provider's own wire format.

The real clients (``anthropic``, ``google-genai``, and the frameworks on top of them) call these, so the spans under
test are what each instrumentation makes of real answers. Usage is fixed per provider, in the provider's meaning:

* Anthropic: ``input_tokens`` excludes cache reads and writes, ``output_tokens`` includes the thinking tokens of
  ``output_tokens_details`` (``ANTHROPIC_USAGE``); a stream sends the input and cache counts in ``message_start``
  with ``output_tokens: 1``, and the final output counts in ``message_delta``.
* Gemini: ``promptTokenCount`` includes ``cachedContentTokenCount``; ``candidatesTokenCount`` excludes
  ``thoughtsTokenCount`` (``GEMINI_USAGE``); a stream (``alt=sse``) sends usage on every chunk, complete on the last.

A request that offers tools and has no tool result yet is answered with a call of the first tool, so an agent's
tool loop makes two model calls.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANTHROPIC_USAGE: dict[str, Any] = {
    "input_tokens": 300,
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 1024,
    "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 150,
    "output_tokens_details": {"thinking_tokens": 60},  # part of output_tokens
    "service_tier": "standard",
}
GEMINI_USAGE: dict[str, Any] = {
    "promptTokenCount": 1200,
    "cachedContentTokenCount": 1024,
    "candidatesTokenCount": 300,
    "thoughtsTokenCount": 128,
    "totalTokenCount": 1628,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
}
ANSWER = ["Margins ", "look ", "healthy."]


@dataclass
class Recorded:
    """One request a stand-in received."""

    path: str
    body: dict[str, Any]


def _has_tool_result_anthropic(body: dict[str, Any]) -> bool:
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list) and any(part.get("type") == "tool_result" for part in content):
            return True
    return False


def _anthropic_message(body: dict[str, Any], n: int) -> dict[str, Any]:
    tools = body.get("tools") or []
    if tools and not _has_tool_result_anthropic(body):
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": f"toolu_stub{n}", "name": tools[0]["name"], "input": {"city": "Paris"}}
        ]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": "".join(ANSWER)}]
        stop = "end_turn"
    return {
        "id": f"msg_stub{n}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }


def _anthropic_events(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    usage = message["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
    start_usage["output_tokens"] = 1  # what the API sends in message_start: the final count comes in message_delta
    yield {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": start_usage}}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            yield {"type": "ping"}
            for piece in ANSWER:
                yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
        else:
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            partial = json.dumps(block["input"])
            yield {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": partial},
            }
        yield {"type": "content_block_stop", "index": index}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"], "output_tokens_details": usage["output_tokens_details"]},
    }
    yield {"type": "message_stop"}


def _has_tool_result_gemini(body: dict[str, Any]) -> bool:
    return any("functionResponse" in part for item in body.get("contents", []) for part in item.get("parts", []))


def _gemini_response(body: dict[str, Any], model: str, n: int) -> dict[str, Any]:
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations", [])]
    if declarations and not _has_tool_result_gemini(body):
        parts: list[dict[str, Any]] = [{"functionCall": {"name": declarations[0]["name"], "args": {"city": "Paris"}}}]
    else:
        parts = [{"text": "".join(ANSWER)}]
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": GEMINI_USAGE,
        "modelVersion": model,
        "responseId": f"resp_gemini{n}",
    }


def _gemini_chunks(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    partial = {
        "promptTokenCount": GEMINI_USAGE["promptTokenCount"],
        "totalTokenCount": GEMINI_USAGE["promptTokenCount"],
    }
    for piece in ANSWER[:-1]:
        candidate = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        yield {**response, "candidates": [candidate], "usageMetadata": partial}
    last = response["candidates"][0]
    yield {**response, "candidates": [{**last, "content": {"parts": [{"text": ANSWER[-1]}], "role": "model"}}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
        return

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", "req_stub1")
        self.end_headers()
        self.wfile.write(payload)

    def _sse(self, events: list[tuple[str | None, dict[str, Any]]]) -> None:
        lines = []
        for event, data in events:
            if event is not None:
                lines.append(f"event: {event}\n")
            lines.append(f"data: {json.dumps(data)}\n\n")
        self._send(200, "".join(lines).encode(), "text/event-stream; charset=utf-8")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.partition("?")[0]
        self.server.requests.append(Recorded(path, body))
        n = next(self.server.ids)
        if path.endswith("/v1/messages"):
            message = _anthropic_message(body, n)
            if body.get("stream"):
                self._sse([(event["type"], event) for event in _anthropic_events(message)])
            else:
                self._send(200, json.dumps(message).encode(), "application/json")
            return
        if "/models/" in path and ":" in path:
            model, _, method = path.rsplit("/", 1)[1].partition(":")
            response = _gemini_response(body, model, n)
            if method == "streamGenerateContent":
                self._sse([(None, chunk) for chunk in _gemini_chunks(response)])
            else:
                self._send(200, json.dumps(response).encode(), "application/json")
            return
        error = {"type": "error", "error": {"type": "not_found_error", "message": f"POST {path}"}}
        self._send(404, json.dumps(error).encode(), "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[Recorded]
    ids: Iterator[int]


class ProviderStub:
    """Anthropic (``/v1/messages``) and Gemini (``/v1beta/models/M:generateContent``) on 127.0.0.1, a free port."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._server.ids = itertools.count(1)
        self._thread = threading.Thread(target=self._server.serve_forever, name="provider-stub", daemon=True)

    @property
    def base_url(self) -> str:
        """The root URL: the Anthropic and google-genai clients' ``base_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[Recorded]:
        """The requests received so far."""
        return self._server.requests

    def __enter__(self) -> ProviderStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
