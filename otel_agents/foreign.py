"""Model calls recorded by other instrumentations (pydantic-ai, OpenInference, OpenLLMetry...).

A span from another instrumentation scope that carries usage (``gen_ai.usage.*``,
OpenInference ``llm.token_count.*`` / ``llm.cost.*``, pydantic-ai's ``operation.cost``) is a
model call of the nearest otel-agents span above it: :class:`ForeignSpans`, a span
processor, adds it to that span's roll-up (priced with genai-prices when it carries no
cost) and decides what our sinks see of it (:meth:`ForeignSpans.for_sinks`).

One call is counted once, whoever recorded it and whatever order the spans end in:

- a foreign usage span with one of our model calls recorded directly inside it, or started
  inside one of our timed model calls (``model_call``), is the same call: ours counts (a
  timed call that was given no usage takes the framework's);
- a foreign usage span with usage spans counted beneath it is an aggregate (an agent run's
  totals): its calls count, it does not;
- two spans of a trace with the same ``gen_ai.response.id`` are one call: the first to end
  counts.

Foreign spans reach our sinks as a copy: content attributes (prompts, messages, tool
arguments) dropped unless content capture is on, then redacted; the verdict above as
``otel_agents.foreign.role``; a counted call with our model-call attributes (``otel_agents.kind``,
usage in the GenAI conventions' names, cost, its workflow, phase and step), so the
execution records, the analytics store and the report count it like ours.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event as SpanEvent, ReadableSpan, SpanProcessor

from otel_agents import attributes as A
from otel_agents.events import ModelUsage, PhaseEvent, StepEvent, WorkflowEvent
from otel_agents.redact import redact, to_text
from otel_agents.spans import cost_attributes

if TYPE_CHECKING:
    from otel_agents.spans import SpanEngine

#: The timed model call (``otel_agents.model_call``) open in this context, if any.
CURRENT_CALL: contextvars.ContextVar[Any] = contextvars.ContextVar("otel_agents_model_call", default=None)

#: Response ids remembered per process (the oldest are forgotten past this).
MAX_RESPONSE_IDS = 10_000


def _int(attrs: Any, *keys: str) -> int | None:
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    return None


def _float(attrs: Any, *keys: str) -> float | None:
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _str(attrs: Any, *keys: str) -> str | None:
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def read_usage(attrs: Any, workflow_id: str = "") -> ModelUsage | None:
    """The model call a foreign span's attributes record, or ``None`` if they carry no usage."""
    i = _int(attrs, A.GEN_AI_USAGE_INPUT_TOKENS, A.OI_LLM_TOKEN_COUNT_PROMPT)
    o = _int(attrs, A.GEN_AI_USAGE_OUTPUT_TOKENS, A.OI_LLM_TOKEN_COUNT_COMPLETION)
    cost = _float(attrs, A.GEN_AI_USAGE_COST_AMOUNT, A.LEGACY_GEN_AI_USAGE_COST, A.OI_LLM_COST_TOTAL)
    if cost is None:
        cost = _float(attrs, A.PYDANTIC_AI_OPERATION_COST)
    if i is None and o is None and cost is None:
        return None
    model = _str(attrs, A.GEN_AI_REQUEST_MODEL, A.GEN_AI_RESPONSE_MODEL, A.OI_LLM_MODEL_NAME) or "unknown"
    return ModelUsage(
        workflow_id=workflow_id,
        model=model,
        provider=_str(attrs, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM, A.OI_LLM_PROVIDER, A.OI_LLM_SYSTEM),
        input_tokens=i or 0,
        output_tokens=o or 0,
        cache_read_tokens=_int(attrs, A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, A.OI_LLM_TOKEN_COUNT_PROMPT_CACHE_READ)
        or 0,
        cache_write_tokens=_int(attrs, A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, A.OI_LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE)
        or 0,
        reasoning_tokens=_int(attrs, A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, A.OI_LLM_TOKEN_COUNT_COMPLETION_REASONING)
        or 0,
        cost=cost,
        response_model=_str(attrs, A.GEN_AI_RESPONSE_MODEL),
        response_id=_str(attrs, A.GEN_AI_RESPONSE_ID),
    )


def is_content(key: str) -> bool:
    """True for an attribute of another instrumentation that holds content (prompts, messages)."""
    return key in A.FOREIGN_CONTENT_KEYS or key.startswith(A.FOREIGN_CONTENT_PREFIXES)


def scrub(attrs: Any, capture: bool) -> dict[str, Any] | None:
    """``attrs`` under our privacy settings: content dropped, or redacted when ``capture``;
    ``None`` when there is nothing to change."""
    out: dict[str, Any] | None = None
    for key, value in attrs.items():
        if not is_content(key):
            continue
        if out is None:
            out = dict(attrs)
        if not capture:
            del out[key]
        elif isinstance(value, str):
            out[key] = redact(value)
        elif isinstance(value, (tuple, list)):
            out[key] = tuple(redact(v) if isinstance(v, str) else v for v in value)
        else:
            out[key] = redact(to_text(value))
    return out


class _Node:
    """An open foreign span: where it sits, and what happened beneath it."""

    __slots__ = ("parent", "owner", "call", "below", "ours_inside")

    def __init__(self, parent: _Node | None, owner: Any, call: Any) -> None:
        self.parent = parent
        self.owner = owner  # the nearest open otel-agents span above it (spans._State), or None
        self.call = call  # our timed model call open when it started, or None
        self.below = False  # a model call (ours or foreign) was accounted beneath it
        self.ours_inside: str | None = None  # the span id of our model call recorded directly inside it


def _names(owner: Any) -> dict[str, Any]:
    """Workflow, phase and step names of the otel-agents spans from ``owner`` up."""
    out: dict[str, Any] = {}
    state = owner
    while state is not None:
        ev = state.event
        if isinstance(ev, StepEvent):
            out.setdefault(A.STEP_NAME, ev.name)
            if ev.agent:
                out.setdefault(A.GEN_AI_AGENT_NAME, ev.agent)
        elif isinstance(ev, PhaseEvent):
            out.setdefault(A.PHASE_NAME, ev.name)
        elif isinstance(ev, WorkflowEvent):
            out.setdefault(A.GEN_AI_WORKFLOW_NAME, ev.name)
            if ev.template is not None:
                out.setdefault(A.WORKFLOW_TEMPLATE, ev.template)
        state = state.parent
    if owner is not None:
        out[A.WORKFLOW_ID] = owner.event.workflow_id
    return out


class ForeignSpans(SpanProcessor):
    """Counts the model calls other instrumentations record, once each (see the module)."""

    def __init__(self, engine: SpanEngine | None, config: Any, own_scope: str) -> None:
        self.engine = engine
        self.config = config
        self.own_scope = own_scope
        #: open foreign spans by span id
        self.open: dict[int, _Node] = {}
        self._verdicts: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
        self._rids: dict[tuple[int, str], tuple[str, bool]] = {}
        self._lock = threading.Lock()
        self._own: Any = ()  # our tracer's instrumentation scope, once seen

    def _ours(self, span: Any) -> bool:
        scope = span.instrumentation_scope
        if scope is None or scope.name != self.own_scope:
            return False
        self._own = scope  # our tracer's scope object: later spans are recognised by identity
        return True

    # --- SpanProcessor (on the hot path for our own spans: one identity check each) --------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if span._instrumentation_scope is self._own or self._ours(span):
            return
        parent = span.parent
        pnode = self.open.get(parent.span_id) if parent is not None else None
        if pnode is not None:
            owner = pnode.owner
        elif parent is not None and self.engine is not None:
            owner = self.engine.state_for_span(parent.span_id)
        else:
            owner = None
        self.open[span.context.span_id] = _Node(pnode, owner, CURRENT_CALL.get())

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        if span._instrumentation_scope is self._own or self._ours(span):
            return
        self.verdict(span)

    # --- our own model calls ---------------------------------------------------------------
    def our_call(self, usage: ModelUsage, span: Any) -> str | None:
        """One of our model calls, recorded as ``span``: note it against the foreign spans.
        Returns the span id (hex) of the span that already counts the same call, if any."""
        sc = span.get_span_context()
        ours = f"{sc.span_id:016x}"
        if self.open:
            node = self.open.get(trace.get_current_span().get_span_context().span_id)
            if node is not None and node.ours_inside is None:
                node.ours_inside = ours
                self._mark_below(node.parent)
        rid = usage.response_id
        if rid:
            with self._lock:
                first = self._first(sc.trace_id, rid, ours, foreign=False)
            # only a framework's span makes ours a duplicate: two of our own spans with one
            # response id (a call exported again, with more tokens) are left as they are
            if first is not None and first[1]:
                return first[0]
        return None

    def _first(self, trace_id: int, rid: str, span_id: str, *, foreign: bool) -> tuple[str, bool] | None:
        """The other span already counting response ``rid`` in the trace (its id, and whether
        it is a framework's), or ``None``: then this one is remembered as counting it. Call
        with the lock held."""
        key = (trace_id, rid)
        first = self._rids.get(key)
        if first is not None:
            return first if first[0] != span_id else None
        if len(self._rids) >= MAX_RESPONSE_IDS:
            del self._rids[next(iter(self._rids))]
        self._rids[key] = (span_id, foreign)
        return None

    @staticmethod
    def _mark_below(node: _Node | None) -> None:
        while node is not None and not node.below:
            node.below = True
            node = node.parent

    # --- foreign spans ---------------------------------------------------------------------
    def verdict(self, span: Any) -> dict[str, Any]:
        """The attributes our sinks add to a finished foreign span (decided once per span)."""
        try:
            done = self._verdicts.get(span)
        except TypeError:
            done = None
        if done is not None:
            return done
        with self._lock:
            done = self._verdicts.get(span)
            if done is None:
                done = self._verdicts[span] = self._decide(span)
        return done

    def _decide(self, span: Any) -> dict[str, Any]:
        sc = span.context
        node = self.open.pop(sc.span_id, None)
        owner = node.owner if node is not None else None
        usage = read_usage(span.attributes or {}, owner.event.workflow_id if owner is not None else "")
        if usage is None:  # no model call: only its workflow, so its records group with ours
            return {A.WORKFLOW_ID: owner.event.workflow_id} if owner is not None else {}
        out: dict[str, Any] = {}
        if node is not None and node.below:
            out[A.FOREIGN_ROLE] = A.FOREIGN_ROLE_AGGREGATE
            return out
        if node is not None and node.ours_inside is not None:
            out[A.FOREIGN_ROLE] = A.FOREIGN_ROLE_DUPLICATE
            out[A.DUPLICATE_OF] = node.ours_inside
        elif node is not None and node.call is not None:
            out[A.FOREIGN_ROLE] = A.FOREIGN_ROLE_DUPLICATE
            _fill(node.call, usage)
        else:
            rid = usage.response_id
            first = self._first(sc.trace_id, rid, f"{sc.span_id:016x}", foreign=True) if rid else None
            if first is not None:
                out[A.FOREIGN_ROLE] = A.FOREIGN_ROLE_DUPLICATE
                out[A.DUPLICATE_OF] = first[0]
        if node is not None:
            self._mark_below(node.parent)
        if out:
            return out
        out[A.FOREIGN_ROLE] = A.FOREIGN_ROLE_MODEL_CALL
        cost = self._cost(usage, out)
        self.accepted(usage, cost, owner, span)
        attrs = span.attributes or {}
        out[A.KIND] = A.KIND_MODEL_CALL
        out.update(_names(owner))
        derived = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.GEN_AI_REQUEST_MODEL: usage.model,
            A.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
            A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: usage.cache_write_tokens,
        }
        if usage.provider is not None:
            derived[A.GEN_AI_PROVIDER_NAME] = usage.provider
        if usage.reasoning_tokens:
            derived[A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
        for key, value in derived.items():
            if key not in attrs:
                out[key] = value
        return out

    @staticmethod
    def _cost(usage: ModelUsage, out: dict[str, Any]) -> float | None:
        """The call's cost (its own, else genai-prices'), its cost attributes into ``out``."""
        return cost_attributes(usage, out)

    def accepted(self, usage: ModelUsage, cost: float | None, owner: Any, span: Any) -> None:
        """THE place where a foreign model call, deduplicated, is counted: it joins the roll-up
        of ``owner`` (the nearest otel-agents span above it) and of that span's ancestors.
        Anything else that must count each model call once (metrics) belongs here too."""
        engine = self.engine
        if owner is not None and engine is not None:
            engine.add_call(owner, usage, cost)
        metrics = getattr(engine, "_metrics", None)
        if metrics is not None:
            metrics.record_model_call(
                model=usage.model,
                provider=usage.provider,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cost=cost,
                unpriced_reason=None if cost is not None else "unknown_model",
            )

    def for_sinks(self, span: Any) -> Any:
        """What our sinks get of a finished span: a foreign span under our privacy settings,
        with the verdict's attributes; our own spans unchanged."""
        if span._instrumentation_scope is self._own or self._ours(span):
            return span
        extra = self.verdict(span)
        attrs = span.attributes or {}
        capture = bool(self.config.values.get("capture_content")) if self.config is not None else False
        clean = scrub(attrs, capture)
        events = span.events or ()
        new_events = []
        changed_events = False
        for ev in events:
            ev_attrs = scrub(ev.attributes or {}, capture)
            if ev_attrs is None:
                new_events.append(ev)
            else:
                changed_events = True
                new_events.append(SpanEvent(ev.name, ev_attrs, ev.timestamp))
        if not extra and clean is None and not changed_events:
            return span
        merged = dict(attrs) if clean is None else clean
        merged.update(extra)
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=merged,
            events=tuple(new_events),
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


_TOKEN_KEYWORDS = ("input_tokens", "output_tokens", "cost")


def _fill(call: Any, usage: ModelUsage) -> None:
    """Give our timed model call ``call`` the framework's usage when it was given none."""
    given = getattr(call, "_kwargs", None)  # what set_usage has received so far
    if given is None or getattr(call, "usage", None) is not None or any(k in given for k in _TOKEN_KEYWORDS):
        return
    kw: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }
    if usage.cost is not None:
        kw["cost"] = usage.cost
    if usage.response_id is not None and "response_id" not in given:
        kw["response_id"] = usage.response_id
    call.set_usage(**kw)
