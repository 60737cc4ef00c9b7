"""An HTTP server on 127.0.0.1 that speaks the OpenAI, Anthropic and Ollama streaming protocols,
and fails in every way the remote backends must survive.

The first segment of a request's path names the scenario, so one server serves every test:

    http://127.0.0.1:PORT/<scenario>/v1       an OpenAI-compatible base_url
    http://127.0.0.1:PORT/<scenario>          an Anthropic or Ollama base_url

It is written on asyncio streams, not a web framework, because the faults need control of the
bytes on the wire: a connection dropped mid-chunk, a character split across writes, a server
that goes silent. Streams use chunked transfer encoding, so a dropped connection is visible.

Scenarios (`N`, `R`, `CODE` are numbers):
    ok              the reply `TEXT`, token by token, with usage
    fast-N          N tokens (words, in paragraphs of 40) as fast as the socket takes them
    fast-echo       the request's system prompt sent back as the reply, four characters a
                    token, as fast as the socket takes them (a benchmark's reply of its choice)
    paced-R-N       the same at R tokens a second
    status-CODE     an error answer with that status (429 says Retry-After: 1)
    once-X          scenario X (or status X, for a number) for the first chat request, then `ok`;
                    `once-X.TAG` counts apart from other tags, so that tests do not share
                    their first request
    html            an HTML page instead of the API
    drop            a few tokens, then the connection is cut
    silent          a few tokens, then nothing, until the client leaves
    malformed       a few tokens, then a line that is not JSON
    no-done         a few tokens, then a clean end without the protocol's end marker
    utf8            text with multi-byte characters split across writes, and an invalid byte
    huge            the whole reply in one 5 MB write
    error-event     a few tokens, then the protocol's error event
    no-stream-options   (OpenAI) 400 when asked for usage in the stream
    reasoning       reasoning deltas, then the reply
    redirect-PORT   307 to the same path on 127.0.0.1:PORT, scenario `ok` (another server, or
                    this one: then the redirect stays within the origin)
    redirect-loop   307 to the same URL, for ever
    error-key       a few tokens, then an error event that quotes the key the request carried
    long-line       a few tokens, then a line of `LONG_LINE_CHARS` that never ends
    garbage         200, then lines of something that is not the protocol (for Ollama, blank
                    ones: any other is an error at once), until the client leaves (at most
                    `GARBAGE_LIMIT` bytes)
    gzip-broken     `Content-Encoding: gzip` on a body that is not gzip (models and chat)
    deep-json       JSON nested `DEEP_JSON` deep (models, and a line of the stream)
    escape-ids      (OpenAI) a model list whose ids and owners carry terminal escape sequences

Why one module: one server, one short handler per scenario; the table above is its index.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

TEXT = "Hello from the fault server. It streams one token at a time."
TOKENS = [word + " " for word in TEXT.split(" ")]
TOKENS[-1] = TOKENS[-1].rstrip()
REASONING = "Thinking it over."
MODELS = {"openai": ["fault-model", "other-model"], "anthropic": ["claude-fault"]}
OLLAMA_MODEL = "fault:latest"
UTF8_TOKENS = ["Caf", "é ", "naïve ", "😀", " fin@"]
UTF8_TEXT = "Café naïve 😀 fin\ufffd"
"""What a client makes of `utf8`: the split characters whole, the invalid byte replaced."""
CHAT_PATHS = ("/chat/completions", "/v1/messages", "/api/chat")
PARTIAL = 3
"""How many tokens the failing scenarios send before they fail."""
LONG_LINE_CHARS = (1 << 20) + (64 << 10)
"""The line `long-line` sends: a little more than genchat's limit of one line (1 Mi)."""
GARBAGE_LIMIT = 256 << 20
"""Where `garbage` gives up on a client that keeps reading."""
DEEP_JSON = 100_000
ESCAPE_IDS = ["evil\x1b]2;TITLE\x1b\\model", "wipe\x1b[2Jmodel"]
"""`escape-ids`' model ids: an OSC 2 (set the window title) and a CSI that clears the screen."""


@dataclass
class Recorded:
    """A request as the server saw it."""

    method: str
    scenario: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FaultServer:
    """The server, run on its own event loop in a thread: `start()`, `base_url()`, `stop()`."""

    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    disconnects: int = 0
    """Streams the client closed before they ended."""
    _counts: dict[str, int] = field(default_factory=dict)
    _tags: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> FaultServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def fresh(self, scenario: str) -> str:
        """`scenario` with a tag of its own: a `once-` scenario that fails again."""
        self._tags += 1
        return f"{scenario}.{self._tags}"

    def base_url(self, scenario: str, api: str = "openai") -> str:
        root = f"http://{self.host}:{self.port}/{scenario}"
        return root + "/v1" if api == "openai" else root

    # -- HTTP ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            body = json.loads(raw) if raw else None
            scenario, _, path = target.lstrip("/").partition("/")
            path = "/" + path.split("?")[0]
            self.requests.append(Recorded(method, scenario, path, headers, body))
            await self._respond(Call(self, reader, writer, scenario, path, headers, body))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _respond(self, call: Call) -> None:
        scenario, _, _ = call.scenario.partition(".")  # a tag after a dot only counts apart
        if scenario.startswith("once-") and call.path.endswith(CHAT_PATHS):
            seen = self._counts.get(call.scenario, 0)
            self._counts[call.scenario] = seen + 1
            first = scenario[5:]
            scenario = ("status-" + first if first.isdigit() else first) if seen == 0 else "ok"
        if scenario.startswith("status-"):
            await call.error_status(int(scenario.split("-")[1]))
        elif scenario.startswith("redirect-"):
            await call.redirect(scenario.removeprefix("redirect-"))
        elif scenario == "gzip-broken":
            await call.send(200, b"this is not gzip at all", "application/json",
                            "Content-Encoding: gzip\r\n")  # fmt: skip
        elif scenario == "deep-json" and call.path.endswith(("/models", "/api/tags")):
            await call.send(200, _deep_json(), "application/json")
        elif scenario == "escape-ids" and call.path.endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "x\x1b[31mred"} for m in ESCAPE_IDS]
            await call.send_json(200, {"object": "list", "data": data})
        elif scenario == "html":
            await call.send(
                200, b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>", "text/html"
            )
        elif call.path.endswith(("/models", "/api/tags")):
            await call.models()
        elif not call.model_known():
            await call.error_status(404)
        elif scenario == "no-stream-options" and call.body and "stream_options" in call.body:
            await call.send_json(400, {"error": {"message": "Unrecognized field: stream_options"}})
        else:
            await call.stream(scenario)


@dataclass
class Call:
    """One request, and the ways of answering it."""

    server: FaultServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    scenario: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def api(self) -> str:
        if self.path.startswith("/api/"):
            return "ollama"
        return "anthropic" if "anthropic-version" in self.headers else "openai"

    def model_known(self) -> bool:
        model = (self.body or {}).get("model")
        if self.api == "ollama":
            return model in (OLLAMA_MODEL, OLLAMA_MODEL.split(":")[0])
        return model in MODELS[self.api]

    async def send(self, status: int, content: bytes, content_type: str, extra: str = "") -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(content)}\r\n"
            f"Connection: close\r\n{extra}\r\n"
        )
        self.writer.write(head.encode() + content)
        await self.writer.drain()

    async def send_json(self, status: int, value: Any, extra: str = "") -> None:
        await self.send(status, json.dumps(value).encode(), "application/json", extra)

    async def error_status(self, status: int) -> None:
        message = f"fault server: status {status}"
        if status == 401:  # as OpenAI does: quote the key that was refused
            message += f"; incorrect API key provided: {self.key()}"
        if self.api == "ollama":
            body: Any = {"error": message}
        elif self.api == "anthropic":
            body = {"type": "error", "error": {"type": "api_error", "message": message}}
        else:
            body = {"error": {"message": message, "type": "fault", "code": status}}
        extra = "Retry-After: 1\r\n" if status == 429 else ""
        await self.send_json(status, body, extra)

    async def redirect(self, to: str) -> None:
        """307 to the same path, on another port (or for ever to the same URL)."""
        if to == "loop":
            location = f"http://{self.server.host}:{self.server.port}/redirect-loop{self.path}"
        else:
            location = f"http://127.0.0.1:{int(to)}/ok{self.path}"
        await self.send(307, b"", "text/plain", f"Location: {location}\r\n")

    def key(self) -> str:
        """The key this request carried, as OpenAI quotes a key it refuses."""
        key = self.headers.get("authorization", self.headers.get("x-api-key", "(none)"))
        return key.removeprefix("Bearer ")

    async def models(self) -> None:
        if self.api == "ollama":
            details = {"parameter_size": "135M", "quantization_level": "Q4_1"}
            await self.send_json(200, {"models": [{"name": OLLAMA_MODEL, "details": details}]})
        elif self.api == "anthropic":
            data = [
                {"id": m, "display_name": m.title(), "type": "model"} for m in MODELS["anthropic"]
            ]
            await self.send_json(200, {"data": data, "has_more": False})
        else:
            data = [{"id": m, "object": "model", "owned_by": "tests"} for m in MODELS["openai"]]
            await self.send_json(200, {"object": "list", "data": data})

    # -- streams ---------------------------------------------------------------------------

    async def stream(self, scenario: str) -> None:
        media = "application/x-ndjson" if self.api == "ollama" else "text/event-stream"
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {media}\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n"
        )
        self.writer.write(head.encode())
        protocol = {"openai": OpenAIStream, "anthropic": AnthropicStream, "ollama": OllamaStream}
        wire = protocol[self.api](self.body or {})
        try:
            await self._play(scenario, wire)
        except ConnectionError:
            self.server.disconnects += 1

    async def chunk(self, data: bytes) -> None:
        if not data:
            return  # an empty chunk would end the body
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.writer.drain()

    async def end(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def wait_or_leave(self, seconds: float) -> bool:
        """Sleep, unless the client leaves first (then count it, and say so)."""
        try:
            await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return False
        self.server.disconnects += 1
        return True

    async def _play(self, scenario: str, wire: Wire) -> None:
        tokens = TOKENS
        if scenario == "fast-echo":
            prompt = _system_prompt(self.body or {})
            tokens = [prompt[i : i + 4] for i in range(0, len(prompt), 4)]
        elif scenario.startswith("fast-"):
            tokens = _prose(int(scenario.split("-")[1]))
        if scenario.startswith("paced-"):
            _, rate, count = scenario.split("-")
            tokens = _prose(int(count))
        await self.chunk(wire.start())
        if scenario == "reasoning":
            await self.chunk(wire.reasoning(REASONING))
        if scenario == "huge":
            await self.chunk(
                b"".join(wire.text(t) for t in _huge_tokens()) + wire.finish(len(tokens))
            )
            await self.end()
            return
        if scenario == "utf8":
            for token in UTF8_TOKENS:
                data = wire.text(token).replace(b"@", b"\xff")  # an invalid byte where @ was
                for i in range(len(data)):  # one byte per write: every character split
                    await self.chunk(data[i : i + 1])
            await self.chunk(wire.finish(len(UTF8_TOKENS)))
            await self.end()
            return
        if scenario == "garbage":
            await self._garbage()
            return
        limit = wire.limit()
        cut = limit is not None and limit < len(tokens)
        tokens = tokens[:limit] if cut else tokens
        failing = scenario in (
            "drop", "silent", "malformed", "no-done", "error-event", "error-key", "long-line",
            "deep-json",
        )  # fmt: skip
        batch: list[bytes] = []
        for i, token in enumerate(tokens[:PARTIAL] if failing else tokens):
            batch.append(wire.text(token))
            if scenario.startswith("fast-") and len(batch) < 64 and i < len(tokens) - 1:
                continue
            await self.chunk(b"".join(batch))
            batch = []
            if scenario.startswith("paced-"):
                if await self.wait_or_leave(1 / float(rate)):
                    return
            elif not scenario.startswith("fast-") and await self.wait_or_leave(0.005):
                return
        if scenario == "drop":
            self.writer.transport.abort()
            return
        if scenario == "silent":
            await self.wait_or_leave(3600)
            return
        if scenario == "malformed":
            await self.chunk(wire.malformed())
        elif scenario == "error-event":
            await self.chunk(wire.error("fault server: overloaded"))
        elif scenario == "error-key":
            await self.chunk(wire.error(f"fault server: the key {self.key()} is over its quota"))
        elif scenario == "long-line":
            piece = b"x" * (64 << 10)
            await self.chunk(b"data: ")
            for _ in range(LONG_LINE_CHARS // len(piece)):
                await self.chunk(piece)
        elif scenario == "deep-json":
            await self.chunk(wire.deep())
        elif scenario != "no-done":
            await self.chunk(wire.finish(len(tokens), cut))
        await self.end()

    async def _garbage(self) -> None:
        line = b"<p>this is not an event stream, and it goes on and on and on</p>\n"
        if self.api == "ollama":
            line = b" " * 64 + b"\n"
        piece = line * 1000
        sent = 0
        while sent < GARBAGE_LIMIT:
            await self.chunk(piece)
            sent += len(piece)
        await self.end()


def _deep_json() -> bytes:
    return b"[" * DEEP_JSON + b"]" * DEEP_JSON


def _system_prompt(body: dict[str, Any]) -> str:
    """A chat request's system prompt: Anthropic's field, or the others' first message."""
    if isinstance(body.get("system"), str):
        return str(body["system"])
    messages = [m for m in body.get("messages", []) if m.get("role") == "system"]
    return str(messages[0].get("content", "")) if messages else ""


def _prose(count: int) -> list[str]:
    """`count` tokens of text in paragraphs of 40, as a model writes: one word each."""
    return [f"w{i}" + ("\n\n" if i % 40 == 39 else " ") for i in range(count)]


def _huge_tokens() -> Iterator[str]:
    line = "0123456789" * 10
    for _ in range(5 * 1024 * 1024 // 200):
        yield line


class Wire:
    """The bytes of one protocol's stream."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def start(self) -> bytes:
        return b""

    def text(self, token: str) -> bytes:
        raise NotImplementedError

    def reasoning(self, text: str) -> bytes:
        raise NotImplementedError

    def finish(self, tokens: int, cut: bool = False) -> bytes:
        """The end of a reply of `tokens` tokens; `cut` when max_tokens ended it."""
        raise NotImplementedError

    def limit(self) -> int | None:
        """The token limit the request set."""
        raise NotImplementedError

    def malformed(self) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    def error(self, message: str) -> bytes:
        raise NotImplementedError

    def deep(self) -> bytes:
        """A line of the stream whose JSON is nested `DEEP_JSON` deep."""
        return b"data: " + _deep_json() + b"\n\n"


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"{prefix}data: {payload}\n\n".encode()


class OpenAIStream(Wire):
    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({"id": "c1", "object": "chat.completion.chunk", "choices": [choice]})

    def text(self, token: str) -> bytes:
        return self._chunk({"content": token})

    def reasoning(self, text: str) -> bytes:
        return self._chunk({"reasoning_content": text})

    def limit(self) -> int | None:
        return self.body.get("max_tokens") or self.body.get("max_completion_tokens")

    def finish(self, tokens: int, cut: bool = False) -> bytes:
        out = self._chunk({}, "length" if cut else "stop")
        if (self.body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 7, "completion_tokens": tokens, "total_tokens": 7 + tokens}
            out += _sse({"id": "c1", "choices": [], "usage": usage})
        return out + _sse("[DONE]")

    def error(self, message: str) -> bytes:
        return _sse({"error": {"message": message, "type": "server_error"}})


class AnthropicStream(Wire):
    def start(self) -> bytes:
        message = {
            "id": "m1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "usage": {"input_tokens": 7, "output_tokens": 1},
        }
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        return (
            _sse({"type": "message_start", "message": message}, "message_start")
            + _sse(block, "content_block_start")
            + _sse({"type": "ping"}, "ping")
        )

    def text(self, token: str) -> bytes:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": token},
        }
        return _sse(delta, "content_block_delta")

    def reasoning(self, text: str) -> bytes:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": text},
        }
        return _sse(delta, "content_block_delta")

    def limit(self) -> int | None:
        return self.body.get("max_tokens")

    def finish(self, tokens: int, cut: bool = False) -> bytes:
        return (
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            + _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "max_tokens" if cut else "end_turn"},
                    "usage": {"output_tokens": tokens},
                },
                "message_delta",
            )
            + _sse({"type": "message_stop"}, "message_stop")
        )

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n'

    def error(self, message: str) -> bytes:
        return _sse(
            {"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error"
        )


class OllamaStream(Wire):
    def _line(self, value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode() + b"\n"

    def text(self, token: str) -> bytes:
        message = {"role": "assistant", "content": token}
        return self._line({"model": OLLAMA_MODEL, "message": message, "done": False})

    def reasoning(self, text: str) -> bytes:
        message = {"role": "assistant", "content": "", "thinking": text}
        return self._line({"model": OLLAMA_MODEL, "message": message, "done": False})

    def limit(self) -> int | None:
        return (self.body.get("options") or {}).get("num_predict")

    def finish(self, tokens: int, cut: bool = False) -> bytes:
        return self._line(
            {
                "model": OLLAMA_MODEL,
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "length" if cut else "stop",
                "prompt_eval_count": 7,
                "eval_count": tokens,
            }
        )

    def malformed(self) -> bytes:
        return b'{"message": {"content": "unterminated\n'

    def deep(self) -> bytes:
        return _deep_json() + b"\n"

    def error(self, message: str) -> bytes:
        return self._line({"error": message})


_REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def main() -> None:
    """Serve until killed, on the port given (or any free one), printing the port first.

    `python -m tests.support.fault_server [PORT]`: the benchmarks run it in a process of its own, so
    that its work is not counted as the client's.
    """
    import sys

    server = FaultServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(server.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
