"""Fakes for the OpenAI chat-completions wire format and the providers that speak it (Ollama,
the Hugging Face router, OpenRouter), each with its own list-models endpoint."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import FakeProvider, Fault, Recorded, Reply, Route


class OpenAIFake(FakeProvider):
    """POST /v1/chat/completions (JSON or SSE ending in a usage chunk and [DONE]), GET /v1/models."""

    models_sample = "openai_v1_models.json"
    models_key = "data"
    chat_path = "/v1/chat/completions"

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", self.chat_path): self.chat, ("GET", "/v1/models"): self.list_models}

    def error_body(self, status: int, kind: str, message: str, code: str | None) -> Any:
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def list_models(self, request: Recorded, reply: Reply) -> None:
        reply.json(200, {"object": "list", "data": self.models})

    def chat(self, request: Recorded, reply: Reply) -> None:
        model = request.json["model"]
        tool_call = self.calls_tool(request)
        if request.json.get("stream"):
            reply.sse(self.events(model, with_usage=self._wants_usage(request), tool_call=tool_call))
            return
        message = {"role": "assistant", "content": self.answer_for(request), "refusal": None}
        if tool_call is not None:
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [tool_call]}
        reply.json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "stop" if tool_call is None else "tool_calls",
                    }
                ],
                "usage": self._usage(),
            },
        )

    def stream_fault(self, request: Recorded, reply: Reply, fault: Fault) -> None:
        events = self.events(request.json["model"], with_usage=self._wants_usage(request))
        if fault.kind == "slow_stream":
            reply.sse(events, gap_s=fault.delay_s)
        elif fault.kind == "late_end":
            reply.sse(events, end_gap_s=fault.delay_s)
        elif fault.kind == "cut_stream":
            reply.sse(events, cut_after=2)
        else:
            reply.sse([events[0], "data: {\"id\": \"chatcmpl-fake\", \"choices\": [{\n\n"])

    def events(self, model: str, *, with_usage: bool, tool_call: dict | None = None) -> list[str]:
        def chunk(delta: dict, finish: str | None = None, choices: bool = True, usage: Any = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            body = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [choice] if choices else [],
            }
            if with_usage:
                body["usage"] = usage
            return f"data: {json.dumps(body)}\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        if tool_call is None:
            events += [chunk({"content": piece}) for piece in self.chunks()]
            events.append(chunk({}, finish="stop"))
        else:  # the id and name first, then the arguments in two pieces, as OpenAI streams them
            function, arguments = tool_call["function"], tool_call["function"]["arguments"]
            half = len(arguments) // 2
            events.append(chunk({"tool_calls": [{"index": 0, "id": tool_call["id"], "type": "function",
                                                 "function": {"name": function["name"], "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                       for piece in (arguments[:half], arguments[half:])]
            events.append(chunk({}, finish="tool_calls"))
        if with_usage:
            events.append(chunk({}, choices=False, usage=self._usage()))
        events.append("data: [DONE]\n\n")
        return events

    def _usage(self) -> dict:
        return {
            "prompt_tokens": self.tokens_in,
            "completion_tokens": self.tokens_out,
            "total_tokens": self.tokens_in + self.tokens_out,
        }

    @staticmethod
    def _wants_usage(request: Recorded) -> bool:
        return bool((request.json.get("stream_options") or {}).get("include_usage"))


class OllamaFake(OpenAIFake):
    """Ollama's OpenAI-compatible chat plus its native GET /api/tags."""

    models_sample = "ollama_api_tags.json"
    models_key = "models"

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", self.chat_path): self.chat, ("GET", "/api/tags"): self.tags}

    def tags(self, request: Recorded, reply: Reply) -> None:
        reply.json(200, {"models": self.models})


class HuggingFaceFake(OpenAIFake):
    """The inference router's chat under /v1 and the Hub's GET /api/models on the same host,
    paged by cursor with the next page in a `Link: <...>; rel="next"` header."""

    models_sample = "huggingface_api_models.json"
    models_key = None

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", self.chat_path): self.chat, ("GET", "/api/models"): self.hub_models}

    def hub_models(self, request: Recorded, reply: Reply) -> None:
        start = int(request.query.get("cursor", 0))
        size = min(int(request.query.get("limit", 1000)), self.page_size)
        page = self.models[start : start + size]
        headers = {}
        if start + size < len(self.models):
            query = {**request.query, "cursor": str(start + size)}
            headers["Link"] = f'<{self.base_url}/api/models?{urlencode(query)}>; rel="next"'
        reply.json(200, page, headers=headers)


class OpenRouterFake(OpenAIFake):
    """Chat under /api/v1 and GET /api/v1/models, paged through `links.next` as in OpenRouter's spec."""

    models_sample = "openrouter_api_v1_models.json"
    chat_path = "/api/v1/chat/completions"

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", self.chat_path): self.chat, ("GET", "/api/v1/models"): self.list_page}

    def list_page(self, request: Recorded, reply: Reply) -> None:
        start = int(request.query.get("offset", 0))
        page = self.models[start : start + self.page_size]
        more = start + self.page_size < len(self.models)
        next_link = f"/api/v1/models?offset={start + self.page_size}&limit={self.page_size}" if more else None
        reply.json(200, {"data": page, "links": {"next": next_link}, "total_count": len(self.models)})
