"""Optional OpenTelemetry tracing, propagated through message headers.

Off by default. :func:`setup_tracing` returns ``None`` when tracing is off, and then nothing of
OpenTelemetry is imported and the hosts keep their untraced code path (one ``is None`` check,
or none where the host picks its handler once at start-up). On, it needs the ``otel`` extra
(``pip install 'tickmesh[otel]'``); without it, asking for tracing is a :class:`ConfigError`.

What a traced host does per handled message:

- **extract**: the W3C trace context (``traceparent``, ``tracestate``) from the delivery's
  headers, through the configured OpenTelemetry propagator (``OTEL_PROPAGATORS``; W3C trace
  context and baggage by default);
- **consume**: run the handler inside a CONSUMER span ``<service> process <topic>``, a child of
  the producer's span, with ``messaging.*`` and ``tickmesh.*`` attributes; a handler that raises
  marks the span as an error;
- **inject**: the span's context into the headers of everything the handler returned, so the
  next service, in this process or another, continues the same trace.

The deterministic in-process bus (``SyncHost``) does not carry headers, so in-process hops keep
each output's context in a bounded table keyed by ``event_id`` instead (``local=True``); a
bridge to a real bus reads it back with :meth:`Tracing.headers_for`.

Correlation: a fill is produced while handling the market data it fills on, not the signal that
placed the order. So one trace follows a signal to its fills, an output whose
``correlation_id`` is known from an earlier trace is injected with that trace's context, and
the span that produced it gets a link back to its own trace.

Configuration: ``tracing.enabled`` in the settings or ``TICKMESH_OTEL=1`` (which, when set,
wins); the exporter is ``tracing.exporter``: ``auto`` picks OTLP when
``opentelemetry-exporter-otlp`` is installed and ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` is set,
or what ``OTEL_TRACES_EXPORTER`` names (``otlp``, ``console``, ``none``), else none (spans are
still made and propagated, so a process in the middle of a chain keeps the trace whole). The
standard ``OTEL_*`` variables configure the rest: ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``
(sample at high event rates), ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tickmesh.core.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, SpanContext, Tracer

    from tickmesh.bus.base import Delivery, Outgoing
    from tickmesh.model.events import Event
    from tickmesh.services.runtime import Service

log = logging.getLogger(__name__)

Exporter = Literal["auto", "otlp", "console", "none"]
EXTRA = "otel"
INSTALL_HINT = f"pip install 'tickmesh[{EXTRA}]'"
ENV_SWITCH = "TICKMESH_OTEL"
TRACEPARENT = "traceparent"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class TracingConfig(Protocol):
    """What :func:`setup_tracing` reads (the ``tracing`` section of the settings)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def exporter(self) -> str: ...

    @property
    def service_name(self) -> str: ...


class _Remembered:
    """A bounded ``key -> value`` table: the oldest entry goes first."""

    __slots__ = ("_capacity", "_items")

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> Any:
        return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        items = self._items
        items[key] = value
        items.move_to_end(key)
        if len(items) > self._capacity:
            items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Tracing:
    """Spans around handlers and trace context in headers; see the module docstring.

    Built by :func:`setup_tracing`, or directly from a tracer (tests pass one from a
    ``TracerProvider`` with an in-memory exporter). ``capacity`` bounds both the in-process
    context table and the correlation table. ``skip_unsampled`` makes no span at all for a
    message whose parent was not sampled, and hands the parent's context on as it is: what a
    parent-based sampler (the default) would decide anyway, at a fraction of the cost. Call
    :meth:`shutdown` at exit to flush the exporter of a provider this object owns.
    """

    def __init__(
        self,
        tracer: Tracer,
        *,
        propagator: TextMapPropagator | None = None,
        provider: TracerProvider | None = None,
        capacity: int = 65_536,
        follow_correlation: bool = True,
        skip_unsampled: bool = False,
    ) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.trace import SpanKind

        self._tracer = tracer
        self._propagator = propagator or propagate.get_global_textmap()
        self._provider = provider
        self._trace = trace
        self._consumer = SpanKind.CONSUMER
        self._local = _Remembered(capacity)
        self._correlations = _Remembered(capacity) if follow_correlation else None
        self._skip_unsampled = skip_unsampled
        self._log_filters: list[tuple[logging.Handler, logging.Filter]] = []

    # --- the two host entry points -------------------------------------------------------------

    def handle(self, service: Service, delivery: Delivery, event: Event) -> Sequence[Outgoing]:
        """``service.process`` for an :class:`AsyncRunner`: the parent comes from the delivery's
        headers; the outputs carry the span's context in theirs."""
        with self.consume(
            service.name,
            delivery.topic,
            event,
            delivery.headers,
            system=_system_of(delivery),
            attempt=delivery.attempt,
        ):
            return self.stamp(service.process(delivery.topic, event))

    def handle_local(
        self, service: Service, topic: str, event: Event, *, dedup: bool = False
    ) -> Sequence[Outgoing]:
        """``service.process`` for a :class:`SyncHost`: contexts go through the in-process
        table, since the deterministic bus does not carry headers."""
        with self.consume(service.name, topic, event):
            return self.stamp(service.process(topic, event, dedup=dedup), local=True)

    # --- building blocks -----------------------------------------------------------------------

    @contextlib.contextmanager
    def consume(
        self,
        service: str,
        topic: str,
        event: Event,
        headers: Mapping[str, str] | None = None,
        *,
        system: str = "memory",
        attempt: int = 1,
    ) -> Iterator[Span]:
        """A current CONSUMER span for handling ``event``; its parent is the context in
        ``headers`` or, without ``headers``, the one remembered for ``event`` in-process (else
        whatever span is current)."""
        carrier = headers if headers is not None else self._local.get(event.event_id)
        parent = self._propagator.extract(carrier) if carrier else None
        if parent is not None and self._skip_unsampled:
            parent_span = self._trace.get_current_span(parent)
            context = parent_span.get_span_context()
            if context.is_valid and not context.trace_flags.sampled:
                with self._trace.use_span(parent_span, end_on_exit=False):
                    yield parent_span
                return
        attributes: dict[str, str | int] = {
            "messaging.system": system,
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": service,
            "messaging.message.id": event.event_id,
            "tickmesh.event_type": type(event).__name__,
        }
        if event.correlation_id:
            attributes["tickmesh.correlation_id"] = event.correlation_id
        if event.namespace:
            attributes["tickmesh.namespace"] = event.namespace
        if attempt > 1:
            attributes["tickmesh.delivery_attempt"] = attempt
        with self._tracer.start_as_current_span(
            f"{service} process {topic}", context=parent, kind=self._consumer, attributes=attributes
        ) as span:
            yield span

    def stamp(self, messages: Sequence[Outgoing], *, local: bool = False) -> Sequence[Outgoing]:
        """Inject the current context into every message's headers (and, with ``local``,
        remember it by ``event_id`` for in-process hops). Returns ``messages``."""
        if not messages:
            return messages
        carrier = self.inject({})
        if not carrier:
            return messages
        for message in messages:
            own = self._correlated(message.event.correlation_id) or carrier
            message.headers = {**message.headers, **own}
            if local:
                self._local.put(message.event.event_id, own)
        return messages

    def inject(self, headers: dict[str, str], context: Context | None = None) -> dict[str, str]:
        """Write the trace context (the current one by default) into ``headers``; returns
        ``headers``."""
        self._propagator.inject(headers, context=context)
        return headers

    def headers_for(self, event: Event) -> dict[str, str]:
        """A copy of the context remembered in-process for ``event`` (empty if none): what a
        bridge from the in-process bus to a real one sends along."""
        return dict(self._local.get(event.event_id) or ())

    def adopt(self, event: Event, headers: Mapping[str, str]) -> None:
        """Remember the context in ``headers`` for ``event``, which enters the in-process bus
        from a real one (a bridged operator command), so its handling joins the sender's trace."""
        if TRACEPARENT in headers:
            self._local.put(event.event_id, dict(headers))

    # --- correlation ---------------------------------------------------------------------------

    def _correlated(self, correlation_id: str) -> dict[str, str] | None:
        """The context to send an output of ``correlation_id`` with, when not the current one.

        The table keeps, per correlation, the latest span that published for it in the trace
        where it started (the strategy's, then risk's, then the execution's that placed the
        order). An output published from another trace (a fill made while handling a later
        tick) goes out as that span's child, and the current span links to it."""
        table = self._correlations
        if not correlation_id or table is None:
            return None
        current = self._trace.get_current_span()
        here = current.get_span_context()
        known: SpanContext | None = table.get(correlation_id)
        if known is None or known.trace_id == here.trace_id:
            if here.is_valid:
                table.put(correlation_id, here)
            return None
        current.add_link(known, {"tickmesh.correlation_id": correlation_id})
        return self.inject({}, self._trace.set_span_in_context(self._trace.NonRecordingSpan(known)))

    # --- logs and lifecycle --------------------------------------------------------------------

    def correlate_logs(self) -> None:
        """Add ``trace_id`` and ``span_id`` to every log record emitted inside a span, on every
        handler of the root logger (the JSON log format prints them as top-level fields)."""
        for handler in logging.getLogger().handlers:
            log_filter = TraceIds(self._trace)
            handler.addFilter(log_filter)
            self._log_filters.append((handler, log_filter))

    def shutdown(self) -> None:
        """Flush and close the exporter of the provider this object built; undo
        :meth:`correlate_logs`."""
        for handler, log_filter in self._log_filters:
            handler.removeFilter(log_filter)
        self._log_filters.clear()
        if self._provider is not None:
            self._provider.shutdown()


class TraceIds(logging.Filter):
    """Puts the current span's ``trace_id`` / ``span_id`` (hex) on log records."""

    def __init__(self, trace_api: Any) -> None:
        super().__init__()
        self._trace = trace_api

    def filter(self, record: logging.LogRecord) -> bool:
        context = self._trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = f"{context.trace_id:032x}"
            record.span_id = f"{context.span_id:016x}"
        return True


# --- set-up -----------------------------------------------------------------------------------


def tracing_requested(config: TracingConfig | None, environ: Mapping[str, str]) -> bool:
    """``TICKMESH_OTEL`` when set (1/true/yes/on or 0/false/no/off), else ``config.enabled``."""
    raw = environ.get(ENV_SWITCH)
    if raw is None:
        return bool(config is not None and config.enabled)
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(f"{ENV_SWITCH} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def setup_tracing(
    config: TracingConfig | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    processor: SpanProcessor | None = None,
) -> Tracing | None:
    """The process's :class:`Tracing`, or ``None`` when tracing is off (nothing imported).

    Builds its own ``TracerProvider`` (the global one is left alone) with ``service.name`` from
    ``OTEL_SERVICE_NAME`` or ``config.service_name``, the sampler from ``OTEL_TRACES_SAMPLER``,
    and a batch processor for the exporter chosen (see the module docstring); ``processor``
    replaces that choice (tests pass a simple processor over an in-memory exporter).
    Raises :class:`ConfigError` naming the extra when the OpenTelemetry packages are missing.
    """
    env = os.environ if environ is None else environ
    if not tracing_requested(config, env):
        return None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        log.info("tracing requested but OTEL_SDK_DISABLED=true: tracing stays off")
        return None
    sdk = _import_sdk()
    service_name = config.service_name if config is not None else "tickmesh"
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = sdk.TracerProvider(resource=sdk.Resource.create(attributes))
    parent_based = isinstance(provider.sampler, sdk.ParentBased)
    if processor is None:
        exporter = _exporter(config.exporter if config is not None else "auto", env)
        processor = sdk.BatchSpanProcessor(exporter) if exporter is not None else None
    if processor is not None:
        provider.add_span_processor(processor)
    return Tracing(provider.get_tracer("tickmesh"), provider=provider, skip_unsampled=parent_based)


class _Sdk:
    """The OpenTelemetry SDK names set-up needs, imported on demand."""

    def __init__(self) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        from opentelemetry.sdk.trace.sampling import ParentBased

        self.Resource = Resource
        self.TracerProvider = TracerProvider
        self.BatchSpanProcessor = BatchSpanProcessor
        self.ConsoleSpanExporter = ConsoleSpanExporter
        self.ParentBased = ParentBased


def _import_sdk() -> _Sdk:
    try:
        return _Sdk()
    except ImportError as exc:
        raise ConfigError(
            f"tracing is on ({ENV_SWITCH} or tracing.enabled) but OpenTelemetry is not "
            f"installed ({exc}); {INSTALL_HINT}, or switch tracing off"
        ) from None


def _exporter(kind: str, env: Mapping[str, str]) -> SpanExporter | None:
    chosen = _auto_exporter(env) if kind == "auto" else kind
    if chosen == "none":
        return None
    if chosen == "console":
        return _import_sdk().ConsoleSpanExporter(out=sys.stderr)
    if chosen == "otlp":
        return _otlp_exporter(env)
    raise ConfigError(f"tracing.exporter must be auto, otlp, console or none, got {kind!r}")


def _auto_exporter(env: Mapping[str, str]) -> str:
    named = env.get("OTEL_TRACES_EXPORTER", "").split(",")[0].strip().lower()
    if named:
        return named
    if any(env.get(name) for name in _OTLP_ENDPOINTS):
        if _otlp_installed():
            return "otlp"
        log.warning(
            "an OTLP endpoint is set but opentelemetry-exporter-otlp is not installed; "
            "spans are not exported (pip install opentelemetry-exporter-otlp)"
        )
    return "none"


def _otlp_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp") is not None
    except ModuleNotFoundError:
        return False


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    flavour = "grpc" if protocol == "grpc" else "http"
    try:
        module = importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{flavour}.trace_exporter"
        )
    except ImportError as exc:
        raise ConfigError(
            f"the OTLP trace exporter ({protocol}) is not installed ({exc}); "
            "pip install opentelemetry-exporter-otlp, or set tracing.exporter to console or none"
        ) from None
    exporter: SpanExporter = module.OTLPSpanExporter()
    return exporter


_SYSTEMS: dict[type, str] = {}


def _system_of(delivery: Delivery) -> str:
    """``messaging.system`` of a delivery: the backend package it comes from (memory, redis,
    nats, kafka), found once per delivery class."""
    cls = type(delivery)
    system = _SYSTEMS.get(cls)
    if system is None:
        parts = cls.__module__.split(".")
        after = parts.index("backends") + 1 if "backends" in parts else len(parts)
        system = _SYSTEMS[cls] = parts[after] if after < len(parts) else "tickmesh"
    return system
