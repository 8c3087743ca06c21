"""A stand-in model client: canned responses, Anthropic-shaped usage, an async and a streaming API."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sdlc_executor.plan import CannedUsage


@dataclass(frozen=True)
class Message:
    """A model response."""

    id: str
    model: str
    text: str
    usage: CannedUsage


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed response; the last one carries the usage."""

    text: str
    usage: CannedUsage | None = None


class ModelClient:
    """Answers every prompt with canned text and the usage it is given."""

    provider = "anthropic"

    def __init__(self, pace: float = 1.0) -> None:
        self.pace = pace
        self._ids = itertools.count(1)

    async def complete(self, model: str, prompt: str, canned: CannedUsage) -> Message:
        await asyncio.sleep(0.002 * self.pace)
        return Message(f"msg_{next(self._ids):04d}", model, f"ok: {prompt[:20]}", canned)

    def stream(self, model: str, prompt: str, canned: CannedUsage) -> Iterator[Chunk]:
        for word in ("working", "on", prompt[:20]):
            time.sleep(0.002 * self.pace / 3)
            yield Chunk(word + " ")
        yield Chunk("", usage=canned)
