"""Cost of a model call from genai-prices' price data, fast.

``genai_prices.calc_price`` costs ~90 us a call, five times a whole span, and the time goes
to its general unit machinery. Token prices are simple: per million tokens, each of
uncached input, cache read, cache write and output, possibly tiered (the tier that the
*total* input crosses applies to all tokens of that kind), plus an optional per-request
price. We look the model's ``ModelPrice`` up once (cached per model and provider, refreshed
hourly, since prices have start dates), then compute with Decimals in ~3 us.
``tests/test_pricing.py`` checks the result equals ``calc_price`` on many cases; a model
whose prices use units we do not compute falls back to ``calc_price`` itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

_MTOK = Decimal(1_000_000)
_KCOUNT = Decimal(1_000)
_FAST_KEYS = {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "requests_kcount"}
# Price keys whose usage our ModelUsage never carries: they contribute 0 to a token-only call.
_ZERO_USAGE_KEYS = {
    "cache_write_1h_mtok", "input_audio_mtok", "cache_audio_read_mtok", "output_audio_mtok",
    "web_searches_kcount", "storage_searches_kcount", "input_image_mtok", "output_image_mtok",
    "input_video_mtok", "output_video_mtok", "cache_image_read_mtok", "output_reasoning_mtok",
    "output_citation_mtok",
}
_REFRESH_S = 3600.0


class UnknownModel(LookupError):
    """genai-prices has no price for this model."""


@dataclass(frozen=True, slots=True)
class Cost:
    """A computed cost in USD."""

    total: float
    input: float
    output: float


@dataclass(slots=True)
class _Entry:
    prices: dict[str, Any] | None  # price key -> Decimal | TieredPrices; None: use calc_price
    model_ref: str
    provider_id: str | None
    loaded_at: float


_cache: dict[tuple[str, str | None], _Entry | UnknownModel] = {}
_lock = threading.Lock()


def _tiered(price: Any, total_input: int) -> Decimal:
    if isinstance(price, Decimal):
        return price
    applicable = price.base
    for tier in reversed(price.tiers):
        if total_input > tier.start:
            return tier.price
    return applicable


def _lookup(model: str, provider: str | None) -> _Entry:
    key = (model, provider)
    entry = _cache.get(key)
    now = time.monotonic()
    if isinstance(entry, _Entry) and now - entry.loaded_at < _REFRESH_S:
        return entry
    if isinstance(entry, UnknownModel):
        raise entry
    from genai_prices import data_snapshot

    try:
        _prov, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError as exc:
        err = UnknownModel(f"no price for model {model!r}" + (f" of {provider!r}" if provider else ""))
        err.__cause__ = exc
        with _lock:
            _cache[key] = err
        raise err from exc
    model_price = info.get_prices(datetime.now(tz=timezone.utc))
    prices = {k: v for k, v in vars(model_price).items() if not k.startswith("_") and v is not None}
    fast = set(prices) <= (_FAST_KEYS | _ZERO_USAGE_KEYS)
    entry = _Entry(prices if fast else None, model, provider, now)
    with _lock:
        _cache[key] = entry
    return entry


def price_of(
    model: str,
    provider: str | None,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Cost:
    """The cost of one call. ``input_tokens`` includes cache reads and writes.

    Raises ``UnknownModel`` when genai-prices has no price for the model, and
    ``ValueError`` when the cache counts exceed the input.
    """
    if cache_read_tokens + cache_write_tokens > input_tokens:
        raise ValueError(
            f"cache tokens ({cache_read_tokens} read + {cache_write_tokens} write) exceed input_tokens {input_tokens}"
        )
    entry = _lookup(model, provider)
    prices = entry.prices
    if prices is None:
        return _slow(entry, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    uncached = input_tokens
    inp = Decimal(0)
    p = prices.get("cache_read_mtok")
    if p is not None:
        uncached -= cache_read_tokens
        inp += _tiered(p, input_tokens) * cache_read_tokens
    p = prices.get("cache_write_mtok")
    if p is not None:
        uncached -= cache_write_tokens
        inp += _tiered(p, input_tokens) * cache_write_tokens
    p = prices.get("input_mtok")
    if p is not None:
        inp += _tiered(p, input_tokens) * uncached
    p = prices.get("output_mtok")
    out = _tiered(p, input_tokens) * output_tokens if p is not None else Decimal(0)
    inp /= _MTOK
    out /= _MTOK
    total = inp + out
    p = prices.get("requests_kcount")
    if p is not None:
        total += _tiered(p, input_tokens) / _KCOUNT
    return Cost(float(total), float(inp), float(out))


def _slow(entry: _Entry, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> Cost:
    from genai_prices import Usage, calc_price

    r = calc_price(
        Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        ),
        model_ref=entry.model_ref,
        provider_id=entry.provider_id,
    )
    return Cost(float(r.total_price), float(r.input_price), float(r.output_price))


def warm(models: tuple[tuple[str, str | None], ...] = ()) -> None:
    """Import genai-prices and look models up ahead of time (call off the hot path)."""
    import genai_prices  # noqa: F401

    for model, provider in models:
        try:
            _lookup(model, provider)
        except LookupError:
            pass
