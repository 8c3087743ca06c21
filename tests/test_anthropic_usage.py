"""Anthropic usage: ``ModelUsage.anthropic_tokens`` / ``from_anthropic`` follow genai-prices'
own Anthropic extraction (cache tokens added to the input, 1-hour cache writes), and 1-hour
cache writes recorded through the API are priced at the 1-hour rate."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price, extract_usage
from pydantic import BaseModel

import otel_agents
from otel_agents import attributes as A
from otel_agents.events import ModelUsage

#: the shared fixtures next to this repository (or next to the directory of its worktrees)
REAL = next(
    (
        p / "shared" / "fixtures" / "claude-code" / "real"
        for p in Path(__file__).resolve().parents[2:4]
        if (p / "shared" / "fixtures").is_dir()
    ),
    Path("/nonexistent"),
)
OPUS = "claude-opus-4-5"


class CacheCreation(BaseModel):  # the shape of anthropic.types.CacheCreation
    ephemeral_1h_input_tokens: int
    ephemeral_5m_input_tokens: int


class SdkUsage(BaseModel):  # the shape of anthropic.types.Usage (fields the API may leave None)
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    service_tier: str | None = None


USAGE = {
    "input_tokens": 3,
    "output_tokens": 120,
    "cache_read_input_tokens": 32188,
    "cache_creation_input_tokens": 17011,
    "cache_creation": {"ephemeral_5m_input_tokens": 11, "ephemeral_1h_input_tokens": 17000},
    "service_tier": "standard",
}
TOKENS = {
    "input_tokens": 3 + 32188 + 17011,
    "output_tokens": 120,
    "cache_read_tokens": 32188,
    "cache_write_tokens": 17011,
    "cache_write_1h_tokens": 17000,
    "reasoning_tokens": 0,
}


def test_anthropic_tokens_from_a_dict_and_from_an_sdk_object():
    assert ModelUsage.anthropic_tokens(USAGE) == TOKENS
    assert ModelUsage.anthropic_tokens(SdkUsage(**USAGE)) == TOKENS
    # exactly genai-prices' own extraction
    ref = extract_usage({"model": OPUS, "usage": USAGE}, provider_id="anthropic").usage
    assert (ref.input_tokens, ref.cache_read_tokens, ref.cache_write_tokens, ref.cache_write_1h_tokens) == (
        TOKENS["input_tokens"],
        32188,
        17011,
        17000,
    )
    # fields left None (no caching), and a streamed delta with output only
    assert ModelUsage.anthropic_tokens(SdkUsage(input_tokens=12, output_tokens=3)) == {
        "input_tokens": 12,
        "output_tokens": 3,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "reasoning_tokens": 0,
    }
    assert ModelUsage.anthropic_tokens({"output_tokens": 9})["output_tokens"] == 9


def test_from_anthropic_builds_the_event():
    u = ModelUsage.from_anthropic(SdkUsage(**USAGE), workflow_id="w", model=OPUS, provider="anthropic")
    assert (u.workflow_id, u.model, u.provider) == ("w", OPUS, "anthropic")
    assert {k: getattr(u, k) for k in TOKENS} == TOKENS


def _opus_1h_reference(tokens: dict) -> float:
    usage = Usage(
        input_tokens=tokens["input_tokens"],
        output_tokens=tokens["output_tokens"],
        cache_read_tokens=tokens["cache_read_tokens"],
        cache_write_tokens=tokens["cache_write_tokens"],
        cache_write_1h_tokens=tokens["cache_write_1h_tokens"],
    )
    return float(calc_price(usage, model_ref=OPUS, provider_id="anthropic").total_price)


def test_one_hour_cache_writes_through_the_api_cost_what_calc_price_says(runtime, exporter):
    with otel_agents.new_workflow("w", runtime=runtime) as wf, wf.step("s") as st:
        st.record_usage(OPUS, provider="anthropic", **ModelUsage.anthropic_tokens(USAGE))
    spans = exporter.get_finished_spans()
    (chat,) = [s for s in spans if s.name.startswith("chat")]
    want = _opus_1h_reference(TOKENS)
    # 17000 1-hour writes at $10, 11 at $6.25, 32188 reads at $0.5, 3 input at $5, 120 output at $25 per MTok
    assert want == (17000 * 10 + 11 * 6.25 + 32188 * 0.5 + 3 * 5 + 120 * 25) / 1e6 == 0.18917775
    assert chat.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == want
    assert chat.attributes[A.USAGE_CACHE_WRITE_1H_INPUT_TOKENS] == 17000
    assert chat.attributes[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 17011
    root = next(s for s in spans if s.parent is None)
    assert root.attributes[A.ROLLUP_COST_AMOUNT] == want


def test_module_level_record_usage_takes_the_one_hour_count(runtime, exporter):
    with otel_agents.new_workflow("w", runtime=runtime), otel_agents.step("s"):
        usage = otel_agents.record_usage(OPUS, provider="anthropic", **ModelUsage.anthropic_tokens(USAGE))
    assert usage is not None and usage.cache_write_1h_tokens == 17000
    (chat,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert chat.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == _opus_1h_reference(TOKENS)


def _responses(transcript: Path) -> list[dict]:
    """Each API response's usage: the field-wise maximum over its entries (fixtures README)."""

    def merge(a: dict, b: dict) -> dict:
        out = dict(a)
        for k, v in b.items():
            if isinstance(v, dict):
                out[k] = merge(out.get(k) or {}, v)
            elif isinstance(v, int) and not isinstance(v, bool):
                out[k] = max(out.get(k, 0), v)
        return out

    by_key: dict[tuple, dict] = {}
    models: dict[tuple, str] = {}
    for line in transcript.read_text().splitlines():
        e = json.loads(line)
        msg = e.get("message")
        if e.get("type") != "assistant" or not isinstance(msg, dict) or not isinstance(msg.get("usage"), dict):
            continue
        key = (msg.get("id"), e.get("requestId"))
        by_key[key] = merge(by_key.get(key, {}), msg["usage"])
        models[key] = msg["model"]
    return [{"model": models[k], "usage": u} for k, u in by_key.items()]


def test_a_real_opus_session_costs_the_one_hour_rate(runtime, exporter):
    session = REAL / "chess-study-tool-6df68d72" / "transcript.jsonl"
    if not session.is_file():
        pytest.skip("no ../shared fixtures next to this repository")
    responses = _responses(session)
    assert len(responses) == 10
    with otel_agents.new_workflow("chess", runtime=runtime) as wf, wf.step("main") as st:
        for r in responses:
            st.record_usage(r["model"], provider="anthropic", **ModelUsage.anthropic_tokens(r["usage"]))
    spans = exporter.get_finished_spans()
    want = sum(
        calc_price(
            extract_usage(r, provider_id="anthropic").usage, model_ref=r["model"], provider_id="anthropic"
        ).total_price
        for r in responses
    )
    assert want == Decimal("0.6323075")  # the fixtures README: 0.632308 (0.488000 at the 5-minute rate)
    chats = [s for s in spans if s.name.startswith("chat")]
    assert sum(c.attributes[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] for c in chats) == 38482
    assert sum(c.attributes.get(A.USAGE_CACHE_WRITE_1H_INPUT_TOKENS, 0) for c in chats) == 38482
    root = next(s for s in spans if s.parent is None)
    assert root.attributes[A.ROLLUP_COST_AMOUNT] == pytest.approx(float(want), abs=1e-12)


def test_genai_prices_is_pinned():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    (pin,) = re.findall(r'"genai-prices([^"]*)"', pyproject)
    assert pin == "==0.2.5"
    assert version("genai-prices") == "0.2.5"


def test_the_anthropic_sdks_own_usage_object():
    types = pytest.importorskip("anthropic.types")
    usage = types.Usage(
        input_tokens=3,
        output_tokens=120,
        cache_read_input_tokens=32188,
        cache_creation_input_tokens=17011,
        service_tier="standard",
        cache_creation=types.CacheCreation(ephemeral_5m_input_tokens=11, ephemeral_1h_input_tokens=17000),
    )
    assert ModelUsage.anthropic_tokens(usage) == TOKENS
