"""The remote backends' HTTP: one httpx client per backend instance, retries before the first
token, HTTP failures as errors a person can act on, and responses cut into lines as they arrive.

What a server sends is bounded: a line of a stream is at most `MAX_LINE_CHARS` long, and
redirects are followed only within the origin of `base_url` (`Endpoint.send`), so that a key or
a profile's header never goes to a host it was not meant for.

httpx is imported here, and this module is imported only when a remote backend first opens a
connection, so start-up never pays for it.

Why one module of about 500 lines: everything that touches httpx is here and nowhere else, so
that importing the remote backends costs nothing until a connection is made; its parts (the
client, retries, the redirect rule, errors by status, line framing) are each short.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from genchat.backends.remote.decoding import MAX_CHARS_WITHOUT_EVENT
from genchat.chat import Notice
from genchat.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    ContextOverflow,
    ModelNotFound,
    ProtocolError,
    RateLimited,
)

RETRY_STATUSES = frozenset({429, 502, 503, 529})
"""Answers worth asking again, before the first token only (529: Anthropic overloaded)."""

MAX_RETRY_WAIT_S = 30.0
"""The longest genchat waits for one retry; a server asking for more gets its error shown."""


ERROR_BODY_LIMIT = 64 * 1024
"""How much of an error response genchat reads to find the server's message."""

MAX_LINE_CHARS = 1 << 20
"""The longest line of a stream genchat accepts (1 Mi characters): a token's event is a few
hundred, and a line that never ends must not grow memory forever."""

MAX_REDIRECTS = 10
"""The most redirects (each within base_url's origin) one request follows."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class Endpoint:
    """Where and how a backend instance talks: built from its profile's options."""

    backend: str
    """The backend type, for messages (`openai`)."""
    base_url: str
    headers: Mapping[str, str]
    key_env: str | None
    """The environment variable the API key comes from, for messages; never the key."""
    key_set: bool
    withheld_key_env: str | None
    """The backend's default key variable, not sent to this base_url (see `KeyPlan`)."""
    key_home: str | None
    """The host the default key belongs to."""
    connect_timeout_s: float
    read_timeout_s: float
    retries: int
    base_url_set: bool = True
    """Whether the profile set base_url; else it is the API's own, and a host that does not
    resolve says more about the network than about the profile."""
    notices: list[str] = field(default_factory=list)
    """What the user should know about this profile's key (`genchat.backends.remote.base`), said
    once, as `Notice`s before the first chat request."""
    max_line_chars: int = MAX_LINE_CHARS
    """The longest line of a stream accepted (a parameter, so that tests can set it low)."""
    max_chars_without_event: int = MAX_CHARS_WITHOUT_EVENT
    """The most text a stream may send without an event of its protocol (`decode_stream`)."""
    client: httpx.AsyncClient | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def get_client(self) -> httpx.AsyncClient:
        """The backend's one client, made on first use (inside the running event loop)."""
        if self.client is None:
            timeout = httpx.Timeout(
                connect=self.connect_timeout_s,
                read=self.read_timeout_s,
                write=self.read_timeout_s,
                pool=self.connect_timeout_s,
            )
            # Redirects are followed by `send`, which checks each hop's origin first.
            self.client = httpx.AsyncClient(
                headers=dict(self.headers), timeout=timeout, follow_redirects=False
            )
        return self.client

    async def aclose(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    # -- requests --------------------------------------------------------------------------

    async def get_json(self, path: str) -> Any:
        """GET a JSON document (a model list), with the same errors as a chat request."""
        client = self.get_client()
        try:
            response = await self.send(client.build_request("GET", self.url(path)), path)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise self.transport_error(exc, streaming=False) from exc
        except httpx.DecodingError as exc:
            raise self.decoding_error(response, exc) from exc
        if response.status_code >= 400:
            raise self.status_error(response.status_code, response.headers, content, missing=path)
        try:
            return json.loads(content)
        except (ValueError, RecursionError, MemoryError) as exc:
            raise ProtocolError(
                f"{self.where()} answered {path} with {_json_fault(exc)}{_html_hint(content)}."
            ) from exc

    async def send(self, request: httpx.Request, path: str) -> httpx.Response:
        """Send `request` and return its response, streaming, following redirects within
        base_url's origin (scheme, host and port) only.

        A redirect to another origin is refused, not followed with the secrets stripped: httpx
        drops `Authorization` on such a hop but keeps `x-api-key` and a profile's own headers,
        and even without them the request's body, the conversation, would go to a host the
        user never named. The error names the target, so that a user who trusts it can set
        base_url to it.
        """
        client = self.get_client()
        origin = _origin(httpx.URL(self.base_url))
        for _ in range(MAX_REDIRECTS + 1):
            response = await client.send(request, stream=True)
            target = response.next_request
            if target is None:
                return response
            await response.aclose()
            if _origin(target.url) != origin:
                raise BackendError(
                    f"{self.where()} redirected {path} to {target.url.copy_with(query=None)}, "
                    f"which is not {_show_origin(origin)}. genchat follows redirects only "
                    "within base_url's origin, so that the key and the profile's headers go "
                    "nowhere else: if that server is the right one, set base_url to it.",
                    title="Redirected elsewhere",
                )
            request = target
        raise BackendError(
            f"{self.where()} redirected {path} more than {MAX_REDIRECTS} times. Check base_url.",
            title="Too many redirects",
        )

    async def post_lines(
        self,
        path: str,
        body: dict[str, Any],
        *,
        fallback: Callable[[int, str], dict[str, Any] | None] | None = None,
        missing: str = "the model",
    ) -> AsyncGenerator[Notice | list[str], None]:
        """POST `body` as JSON and yield the response's lines as they arrive: the complete
        lines of each read together, so that a fast stream costs one step per read, not one
        per line.

        Before the response starts, connection failures and 429/502/503 answers are retried
        with backoff (429 honouring Retry-After), each retry announced by a `Notice`. A 400 or
        422 answer is passed to `fallback` with the server's message: a new body from it is
        tried once. Once the response has started, nothing is retried: a failure then raises,
        and the caller keeps what it has. `missing` is what a 404 says does not exist.
        """
        for notice in self.pending_notices():
            yield notice
        attempt = 0
        tried_fallback = False
        client = self.get_client()
        while True:
            request = client.build_request("POST", self.url(path), json=body)
            try:
                response = await self.send(request, path)
            except httpx.TransportError as exc:
                error = self.transport_error(exc, streaming=False)
                wait = _backoff(attempt)
                if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    raise error from exc
                if _unresolved(exc):
                    raise error from exc  # a name that does not resolve will not in a second
            else:
                if response.status_code < 400:
                    if not response.headers.get("content-type", "").startswith("text/html"):
                        break
                    content = await self._read_some(response)
                    raise ProtocolError(
                        f"{self.where()} answered {path} oddly.{_html_hint(content)}."
                    )
                content = await self._read_some(response)
                if (
                    fallback is not None
                    and not tried_fallback
                    and response.status_code in (400, 422)
                ):
                    tried_fallback = True
                    new_body = fallback(response.status_code, _server_message(content))
                    if new_body is not None:
                        body = new_body
                        continue
                error = self.status_error(
                    response.status_code, response.headers, content, missing=missing
                )
                if response.status_code not in RETRY_STATUSES:
                    raise error
                retry_after = error.retry_after if isinstance(error, RateLimited) else None
                wait = retry_after if retry_after is not None else _backoff(attempt)
            if attempt >= self.retries or wait > MAX_RETRY_WAIT_S:
                raise error
            attempt += 1
            yield Notice(f"{error.title}; trying again in {wait:.0f} s ({attempt}/{self.retries})")
            await asyncio.sleep(wait)
        lines = LineSplitter(self.max_line_chars)
        try:
            async for text in response.aiter_text():  # decoded incrementally, errors replaced
                batch = lines.feed(text)
                if batch:
                    yield batch
            if rest := lines.end():
                yield rest
        except httpx.TransportError as exc:
            raise self.transport_error(exc, streaming=True) from exc
        except httpx.DecodingError as exc:
            raise self.decoding_error(response, exc, streaming=True) from exc
        except LineTooLong as exc:
            raise ProtocolError(
                f"{self.where()} sent a line longer than {exc.limit:,} characters, the most "
                "genchat reads: this is not a stream it can show. The text so far is kept."
            ) from exc
        finally:
            await response.aclose()

    def pending_notices(self) -> list[Notice]:
        """The notices about this profile's key not yet said (`notices`), said once."""
        notices, self.notices = self.notices, []
        return [Notice(text) for text in notices]

    async def _read_some(self, response: httpx.Response) -> bytes:
        """The start of an error answer (up to `ERROR_BODY_LIMIT`), and the response closed."""
        try:
            return await _read_some(response)
        except httpx.DecodingError as exc:
            raise self.decoding_error(response, exc) from exc
        finally:
            await response.aclose()

    # -- errors ----------------------------------------------------------------------------

    def where(self) -> str:
        return f"The {self.backend} server at {self.base_url}"

    def key_advice(self) -> str:
        if self.key_env is None and self.withheld_key_env is not None:
            return (
                f"This profile sends no API key: {self.withheld_key_env} goes only to "
                f'https://{self.key_home}. Add api_key_env = "{self.withheld_key_env}" to the '
                "profile to send it to this server, or name the variable that holds its key."
            )
        if self.key_env is None:
            return (
                "This profile sends no API key; name the variable that holds one with api_key_env."
            )
        if self.key_set:
            return (
                f"The key in {self.key_env} was refused: check it, and that it may use this model."
            )
        return (
            f"{self.key_env} is not set: set it to your API key, or name another variable "
            "with api_key_env."
        )

    def status_error(
        self, status: int, headers: Mapping[str, str], content: bytes, *, missing: str = "the model"
    ) -> BackendError:
        """The error for an HTTP error answer, with the server's own message where it gave one."""
        message = _server_message(content)  # GenchatError redacts any registered secret
        said = f' It said: "{message}"' if message else _html_hint(content)
        said = said.rstrip(".") + "." if said else ""
        where = self.where()
        if status in (401, 403):
            verb = "rejected the API key" if status == 401 else "refused access"
            return AuthError(f"{where} {verb} (HTTP {status}). {self.key_advice()}{said}")
        if status == 404:
            return ModelNotFound(
                f"{where} answered 404: {missing} does not exist there, or base_url is "
                f"wrong. `genchat models` lists what the server offers.{said}"
            )
        if status == 429:
            retry_after = _retry_after(headers)
            when = f" It asks to wait {retry_after:.0f} s." if retry_after is not None else ""
            return RateLimited(
                f"{where} is rate limiting requests (HTTP 429).{when}{said}",
                retry_after=retry_after,
            )
        if status >= 500:
            return BackendUnavailable(
                f"{where} failed (HTTP {status}); try again in a moment.{said}",
                title=f"Server error {status}",
            )
        if _is_context_overflow(message):
            return ContextOverflow(
                f"{where} says the conversation does not fit the model's context.{said} "
                "Start a new chat (Ctrl+N) or shorten the prompt."
            )
        return BackendError(f"{where} refused the request (HTTP {status}).{said}")

    def decoding_error(
        self, response: httpx.Response, exc: httpx.DecodingError, *, streaming: bool = False
    ) -> ProtocolError:
        """The error for a response body httpx could not decompress or decode."""
        encoding = response.headers.get("content-encoding")
        how = f" (Content-Encoding: {encoding})" if encoding else ""
        kept = " The text so far is kept." if streaming else ""
        return ProtocolError(
            f"{self.where()} sent a response that cannot be decoded{how}: {exc}. A proxy "
            f"between may have damaged it.{kept}"
        )

    def transport_error(self, exc: httpx.TransportError, *, streaming: bool) -> BackendError:
        """The error for a connection that failed, timed out or dropped."""
        where = self.where()
        kept = " The text so far is kept." if streaming else ""
        if isinstance(exc, httpx.ConnectTimeout):
            return BackendUnavailable(
                f"{where} did not accept a connection within {self.connect_timeout_s:g} s. "
                "Check that it is up and reachable (connect_timeout_s sets the limit)."
            )
        if isinstance(exc, httpx.ReadTimeout):
            during = " mid-reply" if streaming else ""
            return BackendUnavailable(
                f"{where} went silent for {self.read_timeout_s:g} s{during}."
                f"{kept} read_timeout_s sets the limit.",
                title="Server timed out",
            )
        if _unresolved(exc):
            fix = "Check base_url." if self.base_url_set else "Is this machine offline?"
            return BackendUnavailable(
                f"{where} cannot be found: its host name does not resolve. {fix}"
            )
        if isinstance(exc, httpx.ConnectError):
            return BackendUnavailable(
                f"Could not connect to {self.base_url}: {exc or 'connection refused'}. "
                "Is the server running, and is base_url right?"
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return BackendUnavailable(
                f"{where} closed the connection {'mid-reply' if streaming else 'early'}.{kept}",
                title="Connection dropped",
            )
        return BackendUnavailable(
            f"{where} could not be reached: {type(exc).__name__}: {exc}.{kept}"
        )


def _unresolved(exc: httpx.TransportError) -> bool:
    """Whether a connection failed because the host's name does not resolve."""
    text = str(exc).lower()
    return isinstance(exc, httpx.ConnectError) and (
        "name or service not known" in text
        or "nodename nor servname" in text
        or "temporary failure in name resolution" in text
        or "getaddrinfo" in text
    )


class LineTooLong(ValueError):
    """A line of a stream grew past the splitter's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a line longer than {limit} characters")
        self.limit = limit


class LineSplitter:
    """Text in pieces to lines, ended by "\\r\\n", "\\n" or "\\r" (as SSE and NDJSON allow),
    even when a line end is split between two pieces. Other Unicode line breaks (U+2028, say)
    are text: JSON strings may hold them.

    A line may come in many pieces: they are kept in a list and joined once, when the line
    ends, so that a long line costs time in proportion to its length. A line longer than
    `max_line_chars` raises `LineTooLong`.
    """

    __slots__ = ("_pieces", "_size", "max_line_chars")

    def __init__(self, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._pieces: list[str] = []
        """The unfinished line, in the pieces it came in."""
        self._size = 0
        self.max_line_chars = max_line_chars

    def feed(self, text: str) -> list[str]:
        """The lines that `text` completes; the unfinished rest waits for the next piece."""
        pieces = self._pieces
        if "\n" not in text and "\r" not in text and not (pieces and pieces[-1][-1] == "\r"):
            if text:  # the line goes on
                pieces.append(text)
                self._size += len(text)
                if self._size > self.max_line_chars:
                    raise LineTooLong(self.max_line_chars)
            return []
        if pieces:
            text = "".join(pieces) + text
            pieces.clear()
        if "\r" not in text:  # the common case, and str.split is four times the regex's speed
            lines = text.split("\n")
            rest = lines.pop()
        else:
            # A "\r" at the end may be the first half of a "\r\n": wait for the next piece.
            keep = text.endswith("\r")
            lines = _LINE_END.split(text[:-1] if keep else text)
            rest = lines.pop() + ("\r" if keep else "")
        # Only a text longer than the limit can hold a line that is: one comparison, mostly.
        if len(text) > self.max_line_chars and (
            len(rest) > self.max_line_chars or max(map(len, lines), default=0) > self.max_line_chars
        ):
            raise LineTooLong(self.max_line_chars)
        if rest:
            pieces.append(rest)
        self._size = len(rest)
        return lines

    def end(self) -> list[str]:
        """The last line, where the text did not end with a line end (or ended with "\\r")."""
        rest = "".join(self._pieces)
        self._pieces.clear()
        self._size = 0
        if rest.endswith("\r"):  # a line ended by a lone "\r" at the very end
            return [rest[:-1]]
        return [rest] if rest else []


_LINE_END = re.compile(r"\r\n|\r|\n")


def _backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, … with a little jitter, so that clients do not retry in step."""
    return 0.5 * (1 << attempt) * (1 + random.random() / 4)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _read_some(response: httpx.Response) -> bytes:
    content = b""
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) >= ERROR_BODY_LIMIT:
            break
    return content[:ERROR_BODY_LIMIT]


def _server_message(content: bytes) -> str:
    """The message in an error body, as the OpenAI, Anthropic and Ollama APIs put it."""
    try:
        value = json.loads(content)
    except (ValueError, RecursionError, MemoryError):
        return ""
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict):
        error = error.get("message") or error.get("type")
    if error is None and isinstance(value, dict):
        error = value.get("message") or value.get("detail")
    return " ".join(str(error).split())[:300] if error else ""


def _json_fault(exc: BaseException) -> str:
    """What was wrong with a JSON document that could not be read, for a message."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    if isinstance(exc, MemoryError):
        return "JSON too large to read in the memory there is"
    return "something that is not JSON"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """A URL's origin: scheme, host and port (the scheme's own port when none is given)."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _show_origin(origin: tuple[str, str, int | None]) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}:{port}"


def _html_hint(content: bytes) -> str:
    head = content[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return (
            " It sent an HTML page instead of JSON: base_url may point at a website, a proxy or "
            "a login page rather than the API"
        )
    return ""


def _is_context_overflow(message: str) -> bool:
    text = message.lower()
    return any(
        phrase in text
        for phrase in ("context length", "context window", "too many tokens", "prompt is too long")
    )
