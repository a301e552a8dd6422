"""Approval gates: votes, their current standing, and what guards may know of them.

A gate is open while the case is in the gate's state. Each time the case enters that state a
new round begins (its number is the case version at entry), so a rapid review sent back by the
Panel needs the three DSP votes again. A party may change its vote until the gate closes; every
vote is kept and the latest per party counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from cspr_engine.accounts.schemas import Actor
from cspr_engine.alerts import service as alert_service
from cspr_engine.approvals.exceptions import GateClosed, GateNotFound, NotAGateParty
from cspr_engine.approvals.models import ApprovalVote
from cspr_engine.approvals.schemas import GateRead, GateStatus, VoteCreate, VoteRead
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.errors import FieldError, InvalidData
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow.definitions import GateDef, WorkflowDefinition
from cspr_engine.workflow.registry import GateView


def _latest_round(session: Session, case: Case, gate: GateDef) -> int | None:
    if case.state == gate.state:
        return case.state_entered_version
    latest: int | None = session.exec(
        select(func.max(col(ApprovalVote.round))).where(
            col(ApprovalVote.case_id) == case.id,
            col(ApprovalVote.gate) == gate.name,
        )
    ).one()
    return latest


def _current_votes(
    session: Session, case: Case, gate: GateDef, round_: int
) -> dict[str, ApprovalVote]:
    votes = session.exec(
        select(ApprovalVote)
        .where(
            col(ApprovalVote.case_id) == case.id,
            col(ApprovalVote.gate) == gate.name,
            col(ApprovalVote.round) == round_,
        )
        .order_by(col(ApprovalVote.seq))
    )
    latest: dict[str, ApprovalVote] = {}
    for vote in votes:
        latest[vote.party] = vote
    return latest


def gate_read(session: Session, case: Case, gate: GateDef) -> GateRead:
    round_ = _latest_round(session, case, gate)
    votes = _current_votes(session, case, gate, round_) if round_ is not None else {}
    return _gate_read(case, gate, round_, votes)


def gate_reads(session: Session, case: Case, gates: Iterable[GateDef]) -> dict[str, GateRead]:
    """Every gate of `gates` as gate_read answers it, in two queries at most (a case answer
    shows all its gates)."""
    wanted = list(gates)
    rounds: dict[str, int | None] = {
        g.name: case.state_entered_version for g in wanted if case.state == g.state
    }
    closed = [g.name for g in wanted if g.name not in rounds]
    if closed:
        latest = session.exec(
            select(col(ApprovalVote.gate), func.max(col(ApprovalVote.round)))
            .where(col(ApprovalVote.case_id) == case.id, col(ApprovalVote.gate).in_(closed))
            .group_by(col(ApprovalVote.gate))
        ).all()
        rounds.update(dict.fromkeys(closed))
        rounds.update((name, round_) for name, round_ in latest)
    current = {(name, r) for name, r in rounds.items() if r is not None}
    votes: dict[str, dict[str, ApprovalVote]] = {name: {} for name in rounds}
    if current:
        for vote in session.exec(
            select(ApprovalVote)
            .where(
                col(ApprovalVote.case_id) == case.id,
                col(ApprovalVote.gate).in_({name for name, _ in current}),
            )
            .order_by(col(ApprovalVote.seq))
        ):
            if (vote.gate, vote.round) in current:
                votes[vote.gate][vote.party] = vote  # the latest per party counts
    return {g.name: _gate_read(case, g, rounds[g.name], votes[g.name]) for g in wanted}


def _gate_read(
    case: Case, gate: GateDef, round_: int | None, votes: dict[str, ApprovalVote]
) -> GateRead:
    parties = [str(p) for p in gate.party_refs]
    agrees = [v.decided_on for v in votes.values() if v.decision == gate.agree]
    agreed = len(agrees) == len(parties)
    open_now = case.state == gate.state
    disputed = any(v.decision != gate.agree for v in votes.values())
    status: GateStatus
    if not open_now:
        status = "closed" if votes else "not_open"
    else:
        status = "agreed" if agreed else ("disputed" if disputed else "open")
    return GateRead(
        gate=gate.name,
        label=gate.label,
        basis=gate.basis,
        advisory=gate.advisory,
        status=status,
        round=round_,
        parties=parties,
        votes=[
            VoteRead(
                party=v.party,
                agency=v.agency,
                decision=v.decision,
                rationale=v.rationale,
                decided_on=v.decided_on,
                user_id=v.user_id,
                cast_at=v.cast_at,
            )
            for v in votes.values()
        ],
        missing=[p for p in parties if p not in votes],
        # The gate's agreement date is the latest decided_on of the parties' agreements.
        agreed_on=max(agrees) if agreed and agrees else None,
    )


def gate_views(session: Session, case: Case, definition: WorkflowDefinition) -> dict[str, GateView]:
    """What guards may know of each gate open in the case's current state."""
    views: dict[str, GateView] = {}
    for gate in definition.gates_in(case.state):
        read = gate_read(session, case, gate)
        views[gate.name] = GateView(
            name=gate.name,
            agreed=read.status == "agreed",
            agreed_on=read.agreed_on,
            missing=tuple(read.missing),
            disagreeing=tuple(v.party for v in read.votes if v.decision != gate.agree),
        )
    return views


def cast_vote(
    *,
    session: Session,
    case: Case,
    definition: WorkflowDefinition,
    gate_name: str,
    vote: VoteCreate,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> GateRead:
    """Record `actor`'s decision on an open gate; it replaces the party's earlier vote."""
    case_repository.check_precondition(case, expected_version)
    gate = definition.gates.get(gate_name)
    if gate is None:
        raise GateNotFound(
            f"{definition.name} has no gate {gate_name!r}.", known_gates=sorted(definition.gates)
        )
    if case.state != gate.state:
        raise GateClosed(
            f"Votes on {gate.name} are taken while the case is {gate.state}; it is {case.state}.",
            state=case.state,
            gate=gate.name,
        )
    party = next((p for p in gate.party_refs if p.admits(actor.roles, actor.agency)), None)
    if party is None:
        raise NotAGateParty(
            f"{gate.name} is decided by: {', '.join(gate.parties)}.", gate=gate.name
        )
    today = london_date(now)
    errors = []
    if vote.decision not in gate.decisions:
        errors.append(
            FieldError(
                loc="decision", message=f"must be one of {', '.join(gate.decisions)}", type="enum"
            )
        )
    decided_on = vote.decided_on or today
    if decided_on > today:
        errors.append(
            FieldError(
                loc="decided_on",
                message=f"cannot be in the future (today is {today})",
                type="future_date",
            )
        )
    elif decided_on < case.became_aware_on:
        # Nothing is decided before anyone knew of the incident; a date that early would also
        # move the start of any clock counted from the gate's agreement date. (The round's
        # opening is only known by when it was recorded, and decisions are often recorded late.)
        errors.append(
            FieldError(
                loc="decided_on",
                message=f"cannot be before became_aware_on ({case.became_aware_on})",
                type="date_order",
            )
        )
    if errors:
        raise InvalidData(errors)
    case_repository.claim_next_version(session, case, expected_version)
    case.updated_at = now
    session.add(
        ApprovalVote(
            case_id=case.id,
            gate=gate.name,
            round=case.state_entered_version,
            seq=case.version,
            party=str(party),
            agency=actor.agency,
            user_id=actor.user_id,
            decision=vote.decision,
            rationale=vote.rationale,
            decided_on=decided_on,
            cast_at=now,
        )
    )
    # A disagreement is a dispute only where the gate names whom it goes to (an advisory gate
    # records views and escalates nothing).
    disputed = vote.decision != gate.agree and bool(gate.escalate_disagreement_to)
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="approval.disputed" if disputed else "approval.voted",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data={
            "gate": gate.name,
            "party": str(party),
            "decision": vote.decision,
            "rationale": vote.rationale,
            "decided_on": decided_on.isoformat(),
        },
        basis=gate.basis,
    )
    if disputed:
        alert_service.enqueue(
            session,
            type="approval.disputed",
            dedupe_key=f"approval:{case.id}:v{case.version}",
            case=case,
            recipients=gate.escalate_disagreement_to,
            data={
                "gate": gate.name,
                "label": gate.label,
                "party": str(party),
                "decision": vote.decision,
                "decided_on": decided_on.isoformat(),
            },
            now=now,
        )
    session.flush()
    return gate_read(session, case, gate)
