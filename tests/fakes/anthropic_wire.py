"""Fake of the Anthropic Messages API: POST /v1/messages (JSON or the named-event SSE stream) and
GET /v1/models paged with has_more / last_id -> after_id."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import FakeProvider, Fault, Recorded, Reply, Route


class AnthropicFake(FakeProvider):
    models_sample = "anthropic_v1_models.json"
    models_key = "data"
    context_message = "prompt is too long: 210012 tokens > 200000 maximum"

    def __init__(self) -> None:
        super().__init__()
        template = self.models[0]
        self.models = [
            {**template, "id": f"claude-fake-{n}", "display_name": f"Claude Fake {n}"} for n in range(3)
        ]

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", "/v1/messages"): self.messages, ("GET", "/v1/models"): self.list_models}

    def error_body(self, status: int, kind: str, message: str, code: str | None) -> Any:
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}

    def list_models(self, request: Recorded, reply: Reply) -> None:
        ids = [m["id"] for m in self.models]
        after = request.query.get("after_id")
        start = ids.index(after) + 1 if after in ids else 0
        size = min(int(request.query.get("limit", 20)), self.page_size)
        page = self.models[start : start + size]
        reply.json(
            200,
            {
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start + size < len(self.models),
            },
        )

    def messages(self, request: Recorded, reply: Reply) -> None:
        model = request.json["model"]
        if request.json.get("stream"):
            reply.sse(self.events(model))
            return
        call = self.calls_tool(request)
        content = [{"type": "text", "text": self.answer_for(request)}]
        if call is not None:
            content = [{"type": "tool_use", "id": call["id"], "name": call["function"]["name"],
                        "input": json.loads(call["function"]["arguments"])}]
        reply.json(
            200,
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": "end_turn" if call is None else "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": self.tokens_in, "output_tokens": self.tokens_out},
            },
        )

    def stream_fault(self, request: Recorded, reply: Reply, fault: Fault) -> None:
        events = self.events(request.json["model"])
        if fault.kind == "slow_stream":
            reply.sse(events, gap_s=fault.delay_s)
        elif fault.kind == "late_end":
            reply.sse(events, end_gap_s=fault.delay_s)
        elif fault.kind == "cut_stream":
            reply.sse(events, cut_after=4)
        else:
            broken = 'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'
            reply.sse([events[0], broken])

    def events(self, model: str) -> list[str]:
        def event(name: str, data: dict) -> str:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"

        start = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.tokens_in, "output_tokens": 1},
        }
        events = [
            event("message_start", {"type": "message_start", "message": start}),
            event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            event("ping", {"type": "ping"}),
        ]
        events += [
            event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            for piece in self.chunks()
        ]
        events += [
            event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.tokens_out},
                },
            ),
            event("message_stop", {"type": "message_stop"}),
        ]
        return events
