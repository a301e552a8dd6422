"""Guards by name. A workflow file names them; each is a pure function of a GuardContext.

A guard returns None when the transition may go ahead, or a Refusal saying why (and any facts
the caller needs to put it right, such as the earliest lawful date).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cspr_engine.deadlines.calendar import WorkingCalendar


@dataclass(frozen=True)
class GateView:
    """What a guard may know of an approval gate in the current round."""

    name: str
    agreed: bool
    agreed_on: date | None
    missing: tuple[str, ...]
    disagreeing: tuple[str, ...]


@dataclass(frozen=True)
class GuardContext:
    state: str
    trigger: str
    data: Mapping[str, Any]
    recorded: Mapping[str, Mapping[str, Any]]
    gates: Mapping[str, GateView]
    today: date
    calendar: WorkingCalendar
    open_actions: int
    # Information requests still awaiting their return (each as "agency").
    missing_returns: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    def value(self, ref: str) -> Any:
        """`field` from this trigger's data, or `trigger.field` from what was recorded before."""
        if "." in ref:
            trigger, _, name = ref.partition(".")
            return self.recorded.get(trigger, {}).get(name)
        return self.data.get(ref)


@dataclass(frozen=True)
class Refusal:
    detail: str
    extensions: dict[str, Any] = field(default_factory=dict)


Guard = Callable[[GuardContext], Refusal | None]


def gate_agreed(ctx: GuardContext) -> Refusal | None:
    """Every party of the gate has agreed in the current round."""
    name = str(ctx.params["gate"])
    gate = ctx.gates.get(name)
    if gate is not None and gate.agreed:
        return None
    missing = list(gate.missing) if gate else []
    disagreeing = list(gate.disagreeing) if gate else []
    parts = []
    if missing:
        parts.append("no agreement yet from " + ", ".join(missing))
    if disagreeing:
        parts.append("disagreement from " + ", ".join(disagreeing))
    return Refusal(
        f"The {name} gate is not agreed: " + ("; ".join(parts) or "no votes") + ".",
        {"gate": name, "missing": missing, "disagreeing": disagreeing},
    )


def working_days_between(ctx: GuardContext) -> Refusal | None:
    """`to` falls at least `at_least` working days after `from` (e.g. D8's 7 working days)."""
    start, end = ctx.value(str(ctx.params["from"])), ctx.value(str(ctx.params["to"]))
    at_least = int(ctx.params["at_least"])
    if not isinstance(start, date) or not isinstance(end, date):
        return Refusal(
            f"{ctx.params['from']} and {ctx.params['to']} are both needed "
            "to check the notice period."
        )
    earliest = ctx.calendar.add_working_days(start, at_least)
    if end >= earliest:
        return None
    to_name = str(ctx.params["to"]).rpartition(".")[2]
    from_name = str(ctx.params["from"]).rpartition(".")[2]
    return Refusal(
        f"{to_name} {end.isoformat()} is fewer than {at_least} working days after "
        f"{from_name} {start.isoformat()}; the earliest lawful date is {earliest.isoformat()}.",
        {"earliest_lawful_date": earliest.isoformat(), "working_days_required": at_least},
    )


def improvement_actions_done(ctx: GuardContext) -> Refusal | None:
    """Every improvement action is completed or closed with a rationale."""
    if ctx.open_actions == 0:
        return None
    return Refusal(
        f"{ctx.open_actions} improvement action(s) are still open.",
        {"open_actions": ctx.open_actions},
    )


def information_returns_in(ctx: GuardContext) -> Refusal | None:
    """Every agency asked has made its information return, or the data give the reason to go
    on without it (the field named by `reason`)."""
    if not ctx.missing_returns:
        return None
    reason = ctx.data.get(str(ctx.params["reason"]))
    if isinstance(reason, str) and reason.strip():
        return None
    agencies = ", ".join(a.replace("_", " ") for a in sorted(set(ctx.missing_returns)))
    return Refusal(
        f"Information returns are still awaited from: {agencies}. Record why the rapid review "
        f"is completed without them ({ctx.params['reason']}).",
        {"missing_returns": sorted(set(ctx.missing_returns)), "field": ctx.params["reason"]},
    )


# The parameters each guard needs from the workflow file (checked when the file is loaded).
GUARD_PARAMS: dict[str, frozenset[str]] = {
    "gate_agreed": frozenset({"gate"}),
    "working_days_between": frozenset({"from", "to", "at_least"}),
    "improvement_actions_done": frozenset(),
    "information_returns_in": frozenset({"reason"}),
}

# The facts of the case each guard reads (beyond the trigger's data and what was recorded), so
# that a transition loads only what its guards need.
GUARD_FACTS: dict[str, frozenset[str]] = {
    "gate_agreed": frozenset({"gates"}),
    "working_days_between": frozenset({"calendar"}),
    "improvement_actions_done": frozenset({"open_actions"}),
    "information_returns_in": frozenset({"missing_returns"}),
}

GUARDS: dict[str, Guard] = {
    "gate_agreed": gate_agreed,
    "information_returns_in": information_returns_in,
    "working_days_between": working_days_between,
    "improvement_actions_done": improvement_actions_done,
}
