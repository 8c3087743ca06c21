"""Our fast cost equals genai_prices.calc_price, tiers included, on many cases."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price, data_snapshot
from hypothesis import given, settings, strategies as st

from otel_agents.pricing import UnknownModel, cost_usd, price_of

MODELS = [
    ("claude-sonnet-4-5", "anthropic"),  # tiered above 200k input tokens
    ("claude-sonnet-4-5-20250929", "anthropic"),
    ("claude-haiku-4-5", "anthropic"),
    ("claude-opus-4-1", "anthropic"),
    ("gpt-4o-mini", "openai"),
    ("gpt-4o", "openai"),
    ("gemini-2.5-pro", "google"),
    ("claude-sonnet-4-5", None),
    ("claude-opus-4-5", "anthropic"),  # 1-hour cache writes at $10, 5-minute ones at $6.25
    ("claude-haiku-4-5", "my-gateway"),  # a provider genai-prices does not know: by model alone
]


def _reference(model, provider, i, o, r, w, w1h=0):
    usage = Usage(input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w, cache_write_1h_tokens=w1h)
    if provider == "my-gateway":
        provider = None
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


@st.composite
def usages(draw):
    inp = draw(st.one_of(st.integers(0, 400_000), st.sampled_from([199_999, 200_000, 200_001, 1_000_000])))
    read = draw(st.integers(0, inp))
    write = draw(st.integers(0, inp - read))
    write_1h = draw(st.one_of(st.just(0), st.just(write), st.integers(0, write)))
    out = draw(st.integers(0, 64_000))
    return inp, out, read, write, write_1h


@settings(max_examples=400, deadline=None)
@given(model=st.sampled_from(MODELS), usage=usages())
def test_equals_calc_price(model, usage):
    i, o, r, w, w1h = usage
    got = price_of(
        model[0],
        model[1],
        input_tokens=i,
        output_tokens=o,
        cache_read_tokens=r,
        cache_write_tokens=w,
        cache_write_1h_tokens=w1h,
    )
    assert got.total == _reference(model[0], model[1], i, o, r, w, w1h)
    assert cost_usd(model[0], model[1], i, o, r, w, w1h) == got.total  # the hot path's own computation


def test_every_model_in_the_snapshot_agrees():
    snapshot = data_snapshot.get_snapshot()
    now = datetime.now(timezone.utc)
    checked = 0
    for provider in snapshot.providers:
        for model in provider.models:
            model.get_prices(now)
            for i, o, r, w, w1h in [
                (3100, 500, 2000, 100, 0),
                (250_000, 1000, 50_000, 0, 0),
                (0, 0, 0, 0, 0),
                (10, 99_999, 0, 10, 0),
                (3100, 500, 2000, 100, 60),
                (300_000, 10, 0, 9000, 9000),
            ]:
                try:
                    ref = _reference(model.id, provider.id, i, o, r, w, w1h)
                except Exception:  # noqa: BLE001 - models priced in units we never send
                    continue
                got = price_of(
                    model.id,
                    provider.id,
                    input_tokens=i,
                    output_tokens=o,
                    cache_read_tokens=r,
                    cache_write_tokens=w,
                    cache_write_1h_tokens=w1h,
                )
                case = (provider.id, model.id, i, o, r, w, w1h)
                assert got.total == ref, case
                assert cost_usd(model.id, provider.id, i, o, r, w, w1h) == ref, case
                checked += 1
    assert checked > 1000


def test_reference_example_and_tier():
    # REFERENCE §2: Sonnet 4.5, input 3100 (2000 cache read, 100 cache write), output 500.
    assert (
        price_of(
            "claude-sonnet-4-5",
            "anthropic",
            input_tokens=3100,
            output_tokens=500,
            cache_read_tokens=2000,
            cache_write_tokens=100,
        ).total
        == 0.011475
    )
    # Above 200k input tokens every Sonnet 4.5 token costs the higher tier: $6 in, $22.5 out.
    assert (
        price_of("claude-sonnet-4-5", "anthropic", input_tokens=200_001, output_tokens=1000).total
        == (_reference("claude-sonnet-4-5", "anthropic", 200_001, 1000, 0, 0))
        == pytest.approx((200_001 * 6 + 1000 * 22.5) / 1e6)
    )


def test_unknown_model_and_bad_usage():
    with pytest.raises(UnknownModel):
        price_of("no-such-model-9", "anthropic", input_tokens=1, output_tokens=1)
    with pytest.raises(ValueError, match="exceed"):
        price_of("claude-haiku-4-5", "anthropic", input_tokens=10, output_tokens=1, cache_read_tokens=20)
    with pytest.raises(ValueError, match="1-hour"):
        price_of(
            "claude-haiku-4-5",
            "anthropic",
            input_tokens=10,
            output_tokens=1,
            cache_write_tokens=2,
            cache_write_1h_tokens=3,
        )
    with pytest.raises(ValueError, match="1-hour"):
        cost_usd("claude-haiku-4-5", "anthropic", 10, 1, 0, 2, 3)


def test_one_hour_cache_writes_at_the_one_hour_rate():
    # Opus 4.5: $5 input, $6.25 5-minute write, $10 1-hour write, $0.5 read, $25 output per MTok
    got = price_of(
        "claude-opus-4-5",
        "anthropic",
        input_tokens=10_000,
        output_tokens=500,
        cache_read_tokens=2000,
        cache_write_tokens=3000,
        cache_write_1h_tokens=1000,
    )
    assert got.total == _reference("claude-opus-4-5", "anthropic", 10_000, 500, 2000, 3000, 1000) == 0.061
    assert got == (0.061, 0.0485, 0.0125)  # 5000*5 + 2000*6.25 + 1000*10 + 2000*0.5; 500*25
    # a model without a 1-hour price prices every write at its cache-write rate, as calc_price does
    assert cost_usd("gpt-4o", "openai", 3000, 10, 0, 1000, 1000) == _reference(
        "gpt-4o", "openai", 3000, 10, 0, 1000, 1000
    )


def test_an_unknown_provider_falls_back_to_the_model_alone():
    want = price_of(
        "claude-sonnet-4-5",
        "anthropic",
        input_tokens=3100,
        output_tokens=500,
        cache_read_tokens=2000,
        cache_write_tokens=100,
    )
    assert (
        price_of(
            "claude-sonnet-4-5",
            "my-gateway",
            input_tokens=3100,
            output_tokens=500,
            cache_read_tokens=2000,
            cache_write_tokens=100,
        )
        == want
    )
    assert cost_usd("claude-sonnet-4-5", "my-gateway", 3100, 500, 2000, 100) == 0.011475
    with pytest.raises(UnknownModel):  # a known provider that does not serve the model
        price_of("claude-sonnet-4-5", "openai", input_tokens=1, output_tokens=1)
    with pytest.raises(UnknownModel):  # an unknown model stays unknown through the fallback
        price_of("no-such-model-9", "my-gateway", input_tokens=1, output_tokens=1)
