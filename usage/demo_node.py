"""An OpenAI-compatible development node: deterministic text from the prompt, usage from a shipped tokenizer.

It answers `POST /v1/chat/completions`, `POST /v1/completions` (streamed or not) and `GET /v1/models`
as a bare ASGI app (no framework, so it is cheap enough to sit under the gateway's benchmark). Knobs
make it misbehave on purpose: latency before the first token, a generation speed, a failure rate,
inflated usage, and dying after N tokens of a stream.
"""

import asyncio
import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass

from . import tokenizers

# Each of these is one token, with its leading space, in every shipped tokenizer (llama3, qwen3,
# o200k_harmony), so N words are exactly N completion tokens however they are counted.
WORDS = (
    "the of and to in is was for that on with as by at from his it an are were which this be or has had not "
    "but also their first one new after who they its more all been time two other can during when he into "
    "would about many there most over these him only some than such may out up made she them where between "
    "three while used later both through under since well found became known being world part city high "
    "state school team year people group life work house day back film music game water place large small "
    "long early great light book land power play line name form river park king war south north west east "
    "area old home church family local village"
).split()


@dataclass
class DemoNodeConfig:
    models: tuple[str, ...] = ()  # served model ids; empty: answer for any model
    latency_ms: int = 0  # before the first token
    tokens_per_second: float = 0  # 0: as fast as possible
    failure_rate: float = 0.0  # share of requests answered with a 500 before any output
    inflate_usage: float = 1.0  # reported usage multiplied by this (a dishonest node)
    die_after_tokens: int = 0  # >0: drop the connection after this many completion tokens
    default_max_tokens: int = 0  # >0: answer length when the request sets no max_tokens
    tokenizer: str = ""  # "" = by model family


def generate_words(seed_text: str, max_tokens: int | None, default_max: int = 0) -> list[str]:
    """Deterministic words for a prompt: the same prompt always gets the same answer."""
    digest = hashlib.sha256(seed_text.encode()).digest()
    length = default_max or 8 + digest[0] % 25
    if max_tokens is not None:
        length = min(length, max_tokens)
    rng = random.Random(digest)
    return [" " + rng.choice(WORDS) for _ in range(length)]


def _json_response(status: int, body: dict):
    return status, [(b"content-type", b"application/json")], json.dumps(body).encode()


def _error(status: int, message: str, kind="invalid_request_error"):
    return _json_response(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


class DemoNode:
    def __init__(self, config: DemoNodeConfig | None = None):
        self.config = config or DemoNodeConfig()
        self.rng = random.Random(0)
        self.requests = 0
        self.connections: set = set()  # the client addresses it has served: one per TCP connection

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests += 1
        self.connections.add(tuple(scope.get("client") or ()))
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "demo"} for m in self.config.models]
            return await self._send(send, *_json_response(200, {"object": "list", "data": data}))
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            return await self._send(send, *_error(404, f"No route {method} {path}"))
        try:
            request = json.loads(body)
        except ValueError:
            return await self._send(send, *_error(400, "Body is not JSON"))
        if not isinstance(request, dict):
            return await self._send(send, *_error(400, "Body must be a JSON object"))
        model = request.get("model") or ""
        if self.config.models and model not in self.config.models:
            return await self._send(send, *_error(404, f"Model {model} is not served here"))
        if self.config.failure_rate and self.rng.random() < self.config.failure_rate:
            return await self._send(send, *_error(500, "Injected failure", "server_error"))
        await self._answer(send, request, chat=path.endswith("/chat/completions"))

    async def _send(self, send, status, headers, body):
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, send, request, *, chat: bool):
        config = self.config
        model = request["model"]
        name = config.tokenizer or tokenizers.tokenizer_for_model_id(model)
        if chat:
            messages = request.get("messages") or []
            prompt_tokens = tokenizers.count_chat_reference(name, messages)
            seed = json.dumps(messages, sort_keys=True)
        else:
            prompt = request.get("prompt") or ""
            prompts = prompt if isinstance(prompt, list) else [prompt]
            prompt_tokens = tokenizers.count_prompt(name, [str(p) for p in prompts])
            seed = json.dumps(prompts)
        max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
        words = generate_words(seed, max_tokens if isinstance(max_tokens, int) else None, config.default_max_tokens)
        limited = isinstance(max_tokens, int) and len(words) >= max_tokens
        finish = "length" if limited else "stop"
        inflate = config.inflate_usage
        usage = {
            "prompt_tokens": int(prompt_tokens * inflate),
            "completion_tokens": int(len(words) * inflate),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        delay = 1 / config.tokens_per_second if config.tokens_per_second else 0
        if not request.get("stream"):
            if delay:
                await asyncio.sleep(delay * len(words))
            if config.die_after_tokens:
                raise ConnectionAbortedError("demo node configured to die")
            text = "".join(words)
            if chat:
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                kind = "chat.completion"
            else:
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
                kind = "text_completion"
            body = {"id": ident, "object": kind, "created": created, "model": model, "choices": [choice]}
            body["usage"] = usage
            return await self._send(send, *_json_response(200, body))

        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choices, extra=None):
            data = {"id": ident, "object": kind, "created": created, "model": model, "choices": choices}
            if extra:
                data.update(extra)
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        def piece(text=None, finish_reason=None, role=False):
            if chat:
                delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
                return {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

        if chat:
            await send({"type": "http.response.body", "body": chunk([piece(role=True)]), "more_body": True})
        for count, word in enumerate(words, 1):
            if delay:
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": chunk([piece(word)]), "more_body": True})
            if config.die_after_tokens and count >= config.die_after_tokens:
                raise ConnectionAbortedError("demo node configured to die mid-stream")
        tail = chunk([piece(finish_reason=finish)])
        if (request.get("stream_options") or {}).get("include_usage"):
            tail += chunk([], {"usage": usage})
        await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n"})
