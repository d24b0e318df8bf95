"""Shared pieces of the provider tests (tests/providers): MockTransport handlers that record
what the provider sent, and canned answers. Payload fixtures stay beside their provenance in
tests/fixtures/providers/<provider>."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

__all__ = ["Handler", "Recorder", "ScriptedRecorder", "respond"]

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers with a given handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def form(self, index: int = -1) -> dict[str, str]:
        """The form body of a request (the last by default)."""
        return dict(parse_qsl(self.requests[index].content.decode()))


class ScriptedRecorder:
    """A MockTransport handler answering from a list, in order, recording the requests: a
    response, a handler called with the request, or an exception raised (a transport error)."""

    def __init__(self, *answers: httpx.Response | Handler | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    """A handler answering ``status`` with ``body``: bytes as they are, anything else as JSON,
    None as no body."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler
