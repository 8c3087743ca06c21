"""Cost of a model call from genai-prices' price data, fast.

``genai_prices.calc_price`` costs ~90 us a call, five times a whole span, and the time goes
to its general unit machinery. Token prices are simple: per million tokens, each of
uncached input, cache read, cache write (5-minute and 1-hour) and output, possibly tiered (the tier that the
*total* input crosses applies to all tokens of that kind), plus an optional per-request
price. We look the model's ``ModelPrice`` up once (cached per model and provider, refreshed
hourly, since prices have start dates), as exact integers, and compute in ~2 us.
``tests/test_pricing.py`` checks the result equals ``calc_price`` on many cases; a model
whose prices use units we do not compute falls back to ``calc_price`` itself.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, NamedTuple

_FAST_KEYS = {
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "requests_kcount",
}
# Price keys whose usage our ModelUsage never carries: they contribute 0 to a token-only call.
_ZERO_USAGE_KEYS = {
    "input_audio_mtok",
    "cache_audio_read_mtok",
    "output_audio_mtok",
    "web_searches_kcount",
    "storage_searches_kcount",
    "input_image_mtok",
    "output_image_mtok",
    "input_video_mtok",
    "output_video_mtok",
    "cache_image_read_mtok",
    "output_reasoning_mtok",
    "output_citation_mtok",
}
_REFRESH_S = 3600.0


class UnknownModel(LookupError):
    """genai-prices has no price for this model."""

    reason = "unknown_model"


class PricesUnavailable(UnknownModel):
    """genai-prices cannot be imported in this process (forked while it was importing)."""

    reason = "prices_unavailable"


class Cost(NamedTuple):
    """A computed cost in USD."""

    total: float
    input: float
    output: float


_SCALE_EXP = 12  # prices are held as integers in units of 1e-12 USD per million tokens
_SCALE = 10**_SCALE_EXP
_DIVISOR: int = _SCALE * 1_000_000  # int / int true division is correctly rounded: exact to the float


#: A model's prices by total-input region: ((start, prices), ...), highest start first, the
#: last start ``None``; prices are (cache read, cache write, input, output, per request,
#: 1-hour cache write),
#: each a plain int (see ``_SCALE``) or None.
_Regions = tuple[tuple[int | None, tuple[int | None, ...]], ...]


@dataclass(slots=True)
class _Entry:
    regions: _Regions | None  # None: prices in units we do not compute; use calc_price
    model_ref: str
    provider_id: str | None
    loaded_at: float
    matched_provider: str | None = None  # the provider whose price table matched


@dataclass(frozen=True, slots=True)
class _IntTiers:
    base: int
    tiers: tuple[tuple[int, int], ...]  # (start, price), descending by start


def _scaled(price: Any) -> int | _IntTiers | None:
    """A Decimal or TieredPrices as exact integers; None if not exactly representable."""

    def one(d: Decimal) -> int | None:
        v = d * _SCALE
        return int(v) if v == v.to_integral_value() else None

    if isinstance(price, Decimal):
        return one(price)
    base = one(price.base)
    tiers = tuple((t.start, one(t.price)) for t in sorted(price.tiers, key=lambda t: t.start, reverse=True))
    if base is None or any(p is None for _, p in tiers):
        return None
    return _IntTiers(base, tiers)  # type: ignore[arg-type]


_cache: dict[tuple[str, str | None], _Entry | UnknownModel] = {}
_calls = 0  # the cache's age is checked every 4096 look-ups, not on every one
_lock = threading.Lock()


_REGION_KEYS = (
    "cache_read_mtok",
    "cache_write_mtok",
    "input_mtok",
    "output_mtok",
    "requests_kcount",
    "cache_write_1h_mtok",
)


def _regions(prices: dict[str, Any]) -> _Regions:
    """The tiers of every price at once: a tier applies when the total input is above its
    start, so between two consecutive starts (of any price) every price is one number."""
    starts = sorted({start for p in prices.values() if p.__class__ is _IntTiers for start, _ in p.tiers}, reverse=True)
    probes: list[tuple[int | None, int]] = [(start, start + 1) for start in starts]
    probes.append((None, starts[-1] if starts else 0))  # at or below every start: base prices
    out = []
    for start, total_input in probes:
        vals = tuple(None if (p := prices.get(k)) is None else _tiered(p, total_input) for k in _REGION_KEYS)
        out.append((start, vals))
    return tuple(out)


def _tiered(price: int | _IntTiers, total_input: int) -> int:
    if price.__class__ is int:
        return price
    for start, tier_price in price.tiers:  # type: ignore[union-attr]
        if total_input > start:
            return tier_price
    return price.base  # type: ignore[union-attr]


def _find(model: str, provider: str | None) -> tuple[Any, str | None, str | None]:
    """genai-prices' model info, the provider id to price it with (a provider it does not
    know, a gateway or a proxy's own name, falls back to a look-up by model alone), and the
    id of the provider whose table matched."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        found, info = snapshot.find_provider_model(model, None, provider, None)
        return info, provider, found.id
    except LookupError:
        if provider is None:
            raise
        try:
            snapshot.find_provider(None, provider, None)
        except LookupError:  # not a provider genai-prices knows: price by the model alone
            found, info = snapshot.find_provider_model(model, None, None, None)
            return info, None, found.id
        raise  # a known provider without this model: no price, rather than another's


def _lookup(model: str, provider: str | None) -> _Entry:
    global _calls
    key = (model, provider)
    entry = _cache.get(key)
    _calls += 1
    if entry.__class__ is _Entry:
        if _calls & 4095 or time.monotonic() - entry.loaded_at < _REFRESH_S:
            return entry
    elif entry is not None:
        raise entry  # type: ignore[misc]
    now = time.monotonic()
    if _unavailable:
        raise PricesUnavailable("genai-prices could not load in this process (forked while it was loading)")

    try:
        info, provider_id, matched = _find(model, provider)
    except LookupError as exc:
        err = UnknownModel(f"no price for model {model!r}" + (f" of {provider!r}" if provider else ""))
        err.__cause__ = exc
        with _lock:
            _cache[key] = err
        raise err from exc
    model_price = info.get_prices(datetime.now(tz=timezone.utc))
    raw = {k: v for k, v in vars(model_price).items() if not k.startswith("_") and v is not None}
    prices: dict[str, Any] | None = None
    if set(raw) <= (_FAST_KEYS | _ZERO_USAGE_KEYS):
        prices = {k: _scaled(v) for k, v in raw.items() if k in _FAST_KEYS}
        if any(v is None for v in prices.values()):
            prices = None
    entry = _Entry(_regions(prices) if prices is not None else None, model, provider_id, now, matched)
    with _lock:
        _cache[key] = entry
    return entry


def _check(input_tokens: int, cache_read_tokens: int, cache_write_tokens: int, cache_write_1h_tokens: int) -> None:
    if cache_read_tokens + cache_write_tokens > input_tokens:
        raise ValueError(
            f"cache tokens ({cache_read_tokens} read + {cache_write_tokens} write) exceed input_tokens {input_tokens}"
        )
    if cache_write_1h_tokens > cache_write_tokens:
        raise ValueError(
            f"1-hour cache writes ({cache_write_1h_tokens}) exceed cache_write_tokens {cache_write_tokens}"
        )


#: genai-prices provider ids whose ``gen_ai.provider.name`` value is spelled otherwise.
_SEMCONV_PROVIDER = {
    "google": "gcp.gen_ai",
    "aws": "aws.bedrock",
    "azure": "azure.ai.openai",
    "x-ai": "x_ai",
    "mistral": "mistral_ai",
    "moonshotai": "moonshot_ai",
}


def provider_of(model: str) -> str | None:
    """The ``gen_ai.provider.name`` of the provider whose price table has ``model``
    (``anthropic``, ``openai``, ``gcp.gen_ai``, ...), or ``None`` when none has it or the
    price data is unavailable."""
    try:
        matched = _lookup(model, None).matched_provider
    except UnknownModel:  # PricesUnavailable included
        return None
    return _SEMCONV_PROVIDER.get(matched, matched) if matched is not None else None


def price_of(
    model: str,
    provider: str | None,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> Cost:
    """The cost of one call: total, input and output. ``input_tokens`` includes cache;
    ``cache_write_1h_tokens`` are the part of ``cache_write_tokens`` written for an hour.

    Raises ``UnknownModel`` when genai-prices has no price for the model, and
    ``ValueError`` when the cache counts exceed the input.
    """
    _check(input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens)
    entry = _lookup(model, provider)
    if entry.regions is None:
        return _slow(entry, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens)
    total, inp, out = _scaled_cost(
        entry.regions, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens
    )
    return Cost(total / _DIVISOR, inp / _DIVISOR, out / _DIVISOR)


def cost_usd(
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    cache_write_1h_tokens: int = 0,
) -> float:
    """Just the total of ``price_of``, for the hot path (same errors, same result)."""
    if cache_read_tokens + cache_write_tokens > input_tokens or cache_write_1h_tokens > cache_write_tokens:
        _check(input_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens)
    entry = _lookup(model, provider)
    if entry.regions is None:
        return _slow(
            entry, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens
        ).total
    return (
        _scaled_cost(
            entry.regions, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens
        )[0]
        / _DIVISOR
    )


def _scaled_cost(regions: _Regions, i: int, o: int, cr: int, cw: int, cw1h: int) -> tuple[int, int, int]:
    """(total, input, output) in units of 1e-12 USD per million tokens, exact integers."""
    for start, vals in regions:  # noqa: B007  the region found is used after the loop
        if start is None or i > start:
            break
    read_p, write_p, input_p, output_p, request_p, write_1h_p = vals
    uncached = i
    inp = 0
    if read_p is not None:
        uncached -= cr
        inp += read_p * cr
    if write_1h_p is not None:  # otherwise 1-hour writes are priced as any cache write
        uncached -= cw1h
        inp += write_1h_p * cw1h
        cw -= cw1h
    if write_p is not None:
        uncached -= cw
        inp += write_p * cw
    if input_p is not None:
        inp += input_p * uncached
    out = output_p * o if output_p is not None else 0
    total = inp + out
    if request_p is not None:
        total += request_p * 1000  # per thousand requests -> one request, in the same units
    return total, inp, out


def _slow(
    entry: _Entry, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int, cache_write_1h: int
) -> Cost:
    from genai_prices import Usage, calc_price

    r = calc_price(
        Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=cache_write_1h,
        ),
        model_ref=entry.model_ref,
        provider_id=entry.provider_id,
    )
    return Cost(float(r.total_price), float(r.input_price), float(r.output_price))


# --- loading the price data off the caller's timeline -------------------------------------
# Importing genai-prices and reading its data takes 0.1 to 0.3 s, once per process. Set-up
# starts ``load`` on a background thread, and the first workflow waits for it (``ready``)
# before its span starts, so no span runs beside the load or includes it. A model call
# that arrives before it has loaded all the same (a workflow started through the hooks
# directly, a load slower than the wait) is priced when it has (``when_loaded``).

_loaded = threading.Event()  # set once the data is loaded and every waiter has run
_imported = threading.Event()  # set once the import is over (see _after_fork_in_child)
_load_lock = threading.Lock()
_load_done = False  # the data is loaded (waiters may still be running)
_waiters: list[Any] = []
_loader_started = False
_had_waiters = False
_unavailable = False  # a child forked in the middle of the import (see _after_fork_in_child)


def loaded() -> bool:
    """True once the price data is loaded: ``cost_usd`` then never waits for it."""
    return _load_done


def load() -> None:
    """Load the price data (idempotent), then run the ``when_loaded`` callbacks, in order."""
    global _load_done
    if not _load_done:
        try:
            from genai_prices import data_snapshot

            snapshot = data_snapshot.get_snapshot()
            try:  # a first look-up compiles what every look-up uses (~1 ms)
                snapshot.find_provider_model("claude-sonnet-4-5", None, "anthropic", None)
            except LookupError:
                pass
        except Exception as exc:  # noqa: BLE001 - pricing then fails per call, reported there
            from otel_agents.safety import report

            report("pricing load", exc)
        finally:
            _imported.set()
    with _load_lock:
        first = not _load_done
        _load_done = True
        waiters = _waiters[:]
        _waiters.clear()
    for callback in waiters:
        try:
            callback()
        except Exception as exc:  # noqa: BLE001
            from otel_agents.safety import report

            report("pricing waiter", exc)
    if first:
        _loaded.set()


def start_loading() -> None:
    """Start ``load`` on a background thread (signals blocked in it), once per process."""
    global _loader_started
    with _load_lock:
        if _loader_started or _load_done:
            return
        _loader_started = True
    from otel_agents import threads

    threads.start_daemon(load, "otel-agents-prices")


def when_loaded(callback: Any) -> bool:
    """Call ``callback()`` (on the loading thread) once the data is loaded and return True;
    if it already is, return False without calling it (the caller prices now)."""
    global _had_waiters
    with _load_lock:
        if _load_done:
            return False
        _waiters.append(callback)
        _had_waiters = True
    start_loading()
    return True


def ready(timeout: float) -> bool:
    """Wait at most ``timeout`` seconds for the data (loading it in the background if no
    load is under way: a forked child); True once it is loaded."""
    if _load_done:
        return True
    start_loading()
    return _loaded.wait(timeout)


def wait_loaded(timeout: float | None = 10.0) -> bool:
    """Wait until the calls waiting for the data are priced (at exit); False on timeout."""
    if not _had_waiters:
        return True  # nothing waits for it
    return _loaded.wait(timeout)


def _after_fork_in_child() -> None:
    """The loader thread is not running here. A child forked after the import loads the
    data itself; one forked in the middle of it cannot import genai-prices (its module locks
    belong to a thread it does not have): there every cost is unknown, said so, not $0."""
    global _load_lock, _loaded, _loader_started, _had_waiters, _load_done, _unavailable
    if _load_done:
        return
    _load_lock = threading.Lock()  # the loader may have held it at the fork
    _loaded = threading.Event()
    _loader_started = _had_waiters = False
    _waiters.clear()  # the parent's spans; the parent ends them
    if not _imported.is_set() and "genai_prices" in sys.modules:
        _unavailable = _load_done = True
        _loaded.set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def warm(models: tuple[tuple[str, str | None], ...] = ()) -> None:
    """Load the price data now and look models up ahead of time (call off the hot path)."""
    load()
    for model, provider in models:
        try:
            _lookup(model, provider)
        except LookupError:
            pass


#: genai-prices' usage fields -> ModelUsage's (and ``record_usage``'s keyword arguments).
_USAGE_FIELDS = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
    ("output_reasoning_tokens", "reasoning_tokens"),
)


def _plain(value: Any) -> Any:
    """An SDK usage object (pydantic, dataclass, attributes) as nested dicts of counts;
    anything that is not a count or a mapping of counts is left out."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    elif not isinstance(value, dict) and hasattr(value, "__dict__"):
        value = vars(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _plain(v) if not isinstance(v, (int, float)) else v
            if isinstance(v, dict) or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0):
                out[k] = int(v) if isinstance(v, float) and v == int(v) else v
        return out
    return None


def anthropic_usage(usage: Any) -> dict[str, int]:
    """``ModelUsage`` token counts from an Anthropic usage object or dict, by genai-prices'
    own Anthropic usage extraction (input = input + cache read + cache write; the 1-hour
    cache writes; thinking tokens)."""
    from genai_prices import data_snapshot

    raw = _plain(usage) or {}
    raw.setdefault("input_tokens", 0)
    raw.setdefault("output_tokens", 0)
    provider = data_snapshot.get_snapshot().find_provider(None, "anthropic", None)
    _model, extracted = provider.extract_usage({"usage": raw})
    return {ours: int(getattr(extracted, theirs, None) or 0) for theirs, ours in _USAGE_FIELDS}


_invalid_usage_count = 0
_INVALID_USAGE_LOG_S = 3600.0
_invalid_usage_logged: float | None = None


def warn_invalid_usage(exc: ValueError) -> None:
    """Warn, once an hour at most, that a model call's usage cannot be priced, and name the
    usual cause: Anthropic's own ``input_tokens``, which excludes cache tokens."""
    global _invalid_usage_count, _invalid_usage_logged
    now = time.monotonic()
    with _lock:
        _invalid_usage_count += 1
        count = _invalid_usage_count
        if _invalid_usage_logged is not None and now - _invalid_usage_logged < _INVALID_USAGE_LOG_S:
            return
        _invalid_usage_logged = now
    import logging

    logging.getLogger("otel_agents").warning(
        "otel-agents: a model call's usage cannot be priced (%s; %d such call%s so far), so it has no cost. "
        "input_tokens must include cache reads and writes, and Anthropic's own input_tokens excludes them: "
        "record Anthropic usage with record_usage(model, **ModelUsage.anthropic_tokens(response.usage)) "
        "or ModelUsage.from_anthropic(response.usage, ...).",
        exc,
        count,
        "" if count == 1 else "s",
    )


def invalid_usage_count() -> int:
    """Model calls of this process whose usage could not be priced (``warn_invalid_usage``)."""
    return _invalid_usage_count
