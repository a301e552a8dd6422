"""The figures read from the database at scrape time, and their Prometheus families.

Four queries, each one pass at most: the clocks by kind (one scan of `deadlines`, small
beside the cases it serves), the oldest rung due (the sweep's own partial index on
`next_rung_at`), the deliveries waiting (the partial index of pending deliveries) and the
dead ones. A scrape stays in the milliseconds with thousands of clocks (tests/metrics).

A clock's status is read as the API shows it (`deadlines.service.effective_status`): one still
pending past its due instant is breached before the sweep has marked it so (or met, for a
minimum period such as `publication_retention`). So `cspr_clocks_open` is right while the
scheduler is stopped, and `cspr_sweep_lag_seconds` says that it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import Session, col, select

from cspr_engine.alerts.models import Delivery
from cspr_engine.deadlines.models import Deadline
from cspr_engine.workflow import service as workflow_service

KINDS = ("statutory", "advisory", "local")
OPEN_STATUSES = ("pending", "breached")
CHANNELS = ("webhook", "email")


@dataclass
class DatabaseFigures:
    # (status, kind) -> clocks open, as of now
    clocks_open: dict[tuple[str, str], int] = field(default_factory=dict)
    # kind -> clocks ever breached: open or closed (met late, cancelled when overdue)
    clocks_breached: dict[str, int] = field(default_factory=dict)
    # the oldest rung due and not yet fired; 0 when none is
    sweep_lag_seconds: float = 0.0
    # channel -> deliveries waiting (new or being retried), retried, given up
    outbox_backlog: dict[str, int] = field(default_factory=dict)
    outbox_retrying: dict[str, int] = field(default_factory=dict)
    outbox_dead: dict[str, int] = field(default_factory=dict)
    outbox_oldest_pending_seconds: float = 0.0


def _met_at_due_keys() -> tuple[str, ...]:
    """Clocks that are minimum periods: met, not breached, once their due instant passes."""
    return tuple(
        sorted(
            {
                clock.key
                for definition in workflow_service.get_definitions().values()
                for clock in definition.clocks.values()
                if clock.met_at_due
            }
        )
    )


def _seconds_since(then: datetime | None, now: datetime) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def read(session: Session, now: datetime) -> DatabaseFigures:
    figures = DatabaseFigures()
    at_due = _met_at_due_keys()
    status, due_at, key = col(Deadline.status), col(Deadline.due_at), col(Deadline.key)
    overdue = and_(status == "pending", due_at < now)
    breached_now = or_(status == "breached", and_(overdue, key.not_in(at_due)))
    pending_now = and_(status == "pending", due_at >= now)
    ever_breached = or_(col(Deadline.breached_at).is_not(None), breached_now)
    clocks = select(
        col(Deadline.kind),
        _count_if(pending_now),
        _count_if(breached_now),
        _count_if(ever_breached),
    ).group_by(col(Deadline.kind))
    for kind, pending, breached, ever in session.exec(clocks):
        figures.clocks_open[("pending", kind)] = int(pending)
        figures.clocks_open[("breached", kind)] = int(breached)
        figures.clocks_breached[kind] = int(ever)

    next_rung = col(Deadline.next_rung_at)
    oldest_due = session.exec(
        select(func.min(next_rung)).where(next_rung.is_not(None), next_rung <= now)
    ).one()
    figures.sweep_lag_seconds = _seconds_since(oldest_due, now)

    waiting = (
        select(
            col(Delivery.channel),
            func.count(),
            _count_if(col(Delivery.attempts) > 0),
            func.min(col(Delivery.created_at)),
        )
        .where(col(Delivery.status) == "pending")
        .group_by(col(Delivery.channel))
    )
    created: list[datetime] = []
    for channel, count, retrying, first in session.exec(waiting):
        figures.outbox_backlog[channel] = int(count)
        figures.outbox_retrying[channel] = int(retrying)
        created.append(first)
    figures.outbox_oldest_pending_seconds = _seconds_since(min(created, default=None), now)

    dead = (
        select(col(Delivery.channel), func.count())
        .where(col(Delivery.status) == "dead")
        .group_by(col(Delivery.channel))
    )
    for channel, count in session.exec(dead):
        figures.outbox_dead[channel] = int(count)
    return figures


def _by_label(
    name: str, documentation: str, label: str, values: dict[str, int], known: tuple[str, ...]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value in sorted(set(known) | set(values)):
        family.add_metric([value], values.get(value, 0))
    return family


class DatabaseCollector(Collector):
    """The families of one scrape's figures (every known label value shown, 0 included, so
    an alert on a series never waits for it to appear)."""

    def __init__(self, figures: DatabaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        open_clocks = GaugeMetricFamily(
            "cspr_clocks_open",
            "Clocks running now, by status (pending: not yet due; breached: past its due "
            "instant and not met) and kind (statutory, advisory, local).",
            labels=["status", "kind"],
        )
        kinds = sorted(set(KINDS) | {kind for _status, kind in f.clocks_open})
        for status in OPEN_STATUSES:
            for kind in kinds:
                open_clocks.add_metric([status, kind], f.clocks_open.get((status, kind), 0))
        yield open_clocks
        yield _by_label(
            "cspr_clocks_breached",
            "Clocks ever breached, open or closed (still breached, met late, or cancelled when "
            'overdue), by kind; kind="statutory" counts the statutory breaches.',
            "kind",
            f.clocks_breached,
            KINDS,
        )
        yield GaugeMetricFamily(
            "cspr_sweep_lag_seconds",
            "Now minus the oldest escalation rung (warning, breach, escalation) that is due "
            "and not yet fired; 0 when none is. Grows while no scheduler sweeps.",
            value=f.sweep_lag_seconds,
        )
        yield _by_label(
            "cspr_outbox_backlog",
            "Alert deliveries waiting to be sent (new, or failed and to be retried), by channel.",
            "channel",
            f.outbox_backlog,
            CHANNELS,
        )
        yield _by_label(
            "cspr_outbox_retrying",
            "Alert deliveries waiting that failed at least once, by channel.",
            "channel",
            f.outbox_retrying,
            CHANNELS,
        )
        yield _by_label(
            "cspr_outbox_dead_letters",
            "Alert deliveries given up after their last attempt (dead), by channel.",
            "channel",
            f.outbox_dead,
            CHANNELS,
        )
        yield GaugeMetricFamily(
            "cspr_outbox_oldest_pending_seconds",
            "Now minus the creation of the oldest alert delivery still waiting; 0 when none is.",
            value=f.outbox_oldest_pending_seconds,
        )
