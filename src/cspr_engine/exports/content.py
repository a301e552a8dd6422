"""What the rapid review submission pack says: its sections, built from the case's recorded data
as the API presents it, into a small document model that `pack` (Markdown) and `word` (Word)
render alike, so both formats carry the same headings and the same facts.

The sections follow the content the Panel expects of a rapid review (statutory-process §7.2:
the template's own field list is unverified). A section with nothing recorded yet says so
("Not yet recorded") rather than being left out. Nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cspr_engine.actions.schemas import ActionRead
from cspr_engine.approvals.schemas import GateRead
from cspr_engine.cases.schemas import AuditEventRead, CaseRead
from cspr_engine.deadlines.schemas import DeadlineRead
from cspr_engine.information_requests.schemas import InformationRequestRead
from cspr_engine.kit.clock import LONDON
from cspr_engine.workflow.definitions import FieldDef, WorkflowDefinition

NOT_YET = "Not yet recorded"

SECTIONS = (
    "1. Case details and notification",
    "2. The rapid review",
    "3. The agencies' information",
    "4. The facts of the case",
    "5. Immediate actions",
    "6. Learning and the recommendation",
    "7. The DSPs' joint decision",
    "8. Clocks",
    "9. The Panel's response and what followed",
    "10. What is still to come",
)

# The trigger a workflow must have for its cases to have a pack (exports.service.has_pack).
PACK_TRIGGER = "complete_rapid_review"
# Triggers whose data the rapid review's own sections show (the latest of each); the others
# are told in order, every time they were fired, in section 9.
RAPID_REVIEW_TRIGGERS = frozenset(
    {
        "notify_panel",
        "decide_not_notifiable",
        "complete_rapid_review",
        "withdraw",
        "submit_rapid_review",
    }
)

# The Child Safeguarding Practice Review and Relevant Agency (England) Regulations 2018, reg 11.
REG_11 = {
    "a": "highlights or may highlight improvements needed to safeguard and promote the welfare "
    "of children, including where those improvements have been previously identified",
    "b": "highlights or may highlight recurrent themes in safeguarding and promoting the welfare "
    "of children",
    "c": "highlights or may highlight concerns regarding two or more agencies working together "
    "effectively to safeguard and promote the welfare of children",
    "d": "is one which the Panel have considered and concluded a local review may be more "
    "appropriate",
}

WORDS = {
    "lcspr": "A local child safeguarding practice review (LCSPR)",
    "no_lcspr": "No local child safeguarding practice review",
    "national_review_suggested": "A national review, suggested to the Panel",
    "agrees_lcspr": "The Panel agrees a local child safeguarding practice review",
    "agrees_no_lcspr": "The Panel agrees no local review is needed",
    "national_review": "The Panel will carry out a national review",
    "further_information_requested": "The Panel asks for further information",
    "cp_plan": "Child protection plan",
    "looked_after": "Looked after child",
    "immediate_action": "Immediate action",
    "closed_with_rationale": "Closed with a rationale",
    "in_progress": "In progress",
    "dsp": "DSP",
    "lsp": "LSP",
    "qpd": "Quality and performance group",
}
CLOCK_STATUS = {
    "met": "Met",
    "met_late": "Met late",
    "breached": "Breached",
    "cancelled": "Cancelled",
}
REQUEST_STATUS = {"open": "Awaiting the return", "answered": "Returned", "withdrawn": "Withdrawn"}


# -- the document model ------------------------------------------------------------------------


# Control characters (but tab, line feed and carriage return) and what XML 1.0 cannot hold:
# recorded text loses them, so that both formats say the same and Word can hold it.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def plain(text: str) -> str:
    return _NOT_TEXT.sub("", text)


@dataclass(frozen=True)
class Heading:
    level: int  # 1: the pack's title; 2: a section; 3: a part of a section
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Facts:
    """Labelled values; a value may run over several lines."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Heading | Paragraph | Facts | Bullets | Table


@dataclass(frozen=True)
class Pack:
    title: str
    reference: str
    prepared_at: datetime
    blocks: tuple[Block, ...]

    def headings(self) -> list[tuple[int, str]]:
        return [(b.level, b.text) for b in self.blocks if isinstance(b, Heading)]


@dataclass(frozen=True)
class PackData:
    """What the pack is made from: the case and its records as the API presents them to the
    reader, and the case's workflow."""

    case: CaseRead
    definition: WorkflowDefinition
    requests: Sequence[InformationRequestRead]
    actions: Sequence[ActionRead]
    events: Sequence[AuditEventRead]
    now: datetime


@dataclass
class _Writer:
    """Collects the blocks; every text passes through `plain` on the way in."""

    blocks: list[Block] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, plain(text)))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Paragraph(plain(text)))

    def facts(self, rows: Iterable[tuple[str, str]]) -> None:
        found = tuple((plain(label), plain(value)) for label, value in rows)
        if found:
            self.blocks.append(Facts(found))

    def bullets(self, items: Iterable[str]) -> None:
        found = tuple(plain(item) for item in items)
        if found:
            self.blocks.append(Bullets(found))

    def table(self, header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
        self.blocks.append(
            Table(tuple(map(plain, header)), tuple(tuple(map(plain, row)) for row in rows))
        )


# -- words ---------------------------------------------------------------------------------------


def long_date(value: date | datetime | str | None) -> str:
    """`17 June 2026` (an instant: its date in England); empty for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
        return f"{day.day} {day:%B %Y}"
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return f"{value.day} {value:%B %Y}"


def long_datetime(value: datetime) -> str:
    """`17 June 2026 at 10:00am`, in England."""
    local = value.astimezone(LONDON)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def words(code: object) -> str:
    """A stored code as words: `dsp:local_authority` -> `DSP (local authority)`."""
    text = str(code)
    head, _, agency = text.partition(":")
    said = WORDS.get(head, head.replace("_", " "))
    said = said[:1].upper() + said[1:]
    return f"{said} ({agency.replace('_', ' ')})" if agency else said


def _or_not_yet(text: str | None) -> str:
    return text if text is not None and str(text).strip() else NOT_YET


def _coded(code: object) -> str:
    """A recorded code as words, or "Not yet recorded"."""
    return words(code) if code not in (None, "") else NOT_YET


def field_value(spec: FieldDef | None, value: Any) -> str:
    """A recorded field's value as the pack shows it."""
    if value is None or value == "" or value == []:
        return NOT_YET
    kind = spec.type if spec is not None else None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if kind == "date":
        return long_date(str(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if kind == "enum":
        return words(value)
    return str(value)


def trigger_facts(
    definition: WorkflowDefinition, trigger: str, values: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """Each field the workflow declares for `trigger`, labelled as the workflow labels it, with
    the value recorded (or "Not yet recorded")."""
    spec = definition.triggers.get(trigger)
    if spec is None:
        return []
    given = values or {}
    return [
        (f.label or words(name), field_value(f, given.get(name))) for name, f in spec.fields.items()
    ]


def _working_days(n: int) -> str:
    return f"{n} working day{'' if n == 1 else 's'}"


def clock_status(d: DeadlineRead) -> str:
    if d.status == "pending":
        if d.working_days_left is None:
            return "Running"
        if d.working_days_left == 0:
            return "Running, due today"
        return f"Running, {_working_days(d.working_days_left)} left"
    return CLOCK_STATUS.get(d.status, words(d.status))


def clock_label(d: DeadlineRead) -> str:
    label = d.label + (f" ({words(d.subject_agency).lower()})" if d.subject_agency else "")
    return label + (f" #{d.sequence}" if d.sequence > 1 else "")


# -- the sections --------------------------------------------------------------------------------


def build(data: PackData) -> Pack:
    """The submission pack of the case at its present stage."""
    case = data.case
    out = _Writer()
    title = f"Rapid review submission: {case.reference}"
    out.heading(1, title)
    out.facts(
        [
            ("Case reference", case.reference),
            ("Partnership", case.partnership),
            ("Stage", case.state_label),
            ("Prepared", long_datetime(data.now)),
        ]
    )
    out.paragraph(
        "Prepared from the case's record, in the sections the Panel's rapid review template "
        "asks for. It holds no child's name, address, date of birth or NHS number. A part "
        f'that says "{NOT_YET}" has nothing on the record yet.'
    )
    for section in (
        _case_details,
        _rapid_review,
        _agencies_information,
        _facts,
        _immediate_actions,
        _recommendation,
        _joint_decision,
        _clocks,
        _what_followed,
        _still_to_come,
    ):
        section(out, data)
    return Pack(
        title=title, reference=case.reference, prepared_at=data.now, blocks=tuple(out.blocks)
    )


def _recorded(data: PackData, trigger: str) -> dict[str, Any] | None:
    values = data.case.recorded.get(trigger)
    return values if isinstance(values, dict) else None


def _case_details(out: _Writer, data: PackData) -> None:
    case, definition = data.case, data.definition
    out.heading(2, SECTIONS[0])
    edition = f" ({definition.edition})" if definition.edition else ""
    out.facts(
        [
            ("Case reference", case.reference),
            ("Partner's reference", _or_not_yet(case.partner_reference)),
            ("Referring agency", words(case.referring_agency)),
            ("Date the local authority became aware", long_date(case.became_aware_on)),
            ("Workflow", f"{definition.title}, version {definition.version}{edition}"),
            ("Current stage", case.state_label),
        ]
    )
    out.heading(3, "Notification to the Panel")
    not_notifiable = _recorded(data, "decide_not_notifiable")
    if not_notifiable is not None:
        out.facts(
            [
                ("Decision", "The incident was decided not notifiable"),
                *trigger_facts(definition, "decide_not_notifiable", not_notifiable),
            ]
        )
    else:
        out.facts(trigger_facts(definition, "notify_panel", _recorded(data, "notify_panel")))


def _rapid_review(out: _Writer, data: PackData) -> None:
    case, definition = data.case, data.definition
    out.heading(2, SECTIONS[1])
    out.facts(
        [
            (
                "Date the rapid review was completed",
                long_date((_recorded(data, "complete_rapid_review") or {}).get("completed_on"))
                or NOT_YET,
            ),
            (
                "Date it was submitted to the Panel",
                long_date((_recorded(data, "submit_rapid_review") or {}).get("submitted_on"))
                or NOT_YET,
            ),
        ]
    )
    out.heading(3, "Partners involved")
    deciding = [g for g in definition.gates.values() if not g.advisory]
    parties = dict.fromkeys(p for g in deciding for p in g.parties)
    asked = dict.fromkeys(r.agency for r in data.requests if r.status != "withdrawn")
    out.facts(
        [
            (
                "Safeguarding partners deciding jointly",
                ", ".join(words(p) for p in parties) or NOT_YET,
            ),
            ("Referring agency", words(case.referring_agency)),
            ("Agencies asked for information", ", ".join(words(a) for a in asked) or NOT_YET),
        ]
    )
    withdrawn = _recorded(data, "withdraw")
    if withdrawn is not None and "withdraw" in definition.triggers:
        out.heading(3, definition.triggers["withdraw"].label)
        out.facts(trigger_facts(definition, "withdraw", withdrawn))


def _agencies_information(out: _Writer, data: PackData) -> None:
    out.heading(2, SECTIONS[2])
    if not data.requests:
        out.paragraph(f"{NOT_YET}: no agency has been asked for its information.")
    for r in data.requests:
        out.heading(3, f"Request {r.number}: {words(r.agency)}")
        rows = [
            ("Asked", r.asked),
            ("Asked on", long_date(r.requested_at)),
            ("Due", long_date(r.due_on)),
            ("Status", REQUEST_STATUS.get(r.status, words(r.status))),
        ]
        if r.clock is not None and r.status != "withdrawn":
            rows.append(("Return clock", CLOCK_STATUS.get(r.clock.status, "Running")))
        if r.response is not None:
            given = r.response
            period = (
                f"{long_date(given.involvement_from) or 'not given'} to "
                f"{long_date(given.involvement_to) or 'not given'}"
                if given.involvement_from or given.involvement_to
                else NOT_YET
            )
            rows += [
                ("Returned on", long_date(given.answered_on)),
                ("Known to the agency", "Yes" if given.known_to_agency else "No"),
                ("Period of involvement", period),
                ("Chronology included", "Yes" if given.chronology_included else "No"),
                ("The agency's summary", given.summary),
            ]
            if given.document_id is not None:
                rows.append(("Document", "The return is also a document of the case"))
        if r.status == "withdrawn":
            rows += [
                ("Withdrawn on", long_date(r.withdrawn_at)),
                ("Why", _or_not_yet(r.withdrawn_reason)),
            ]
        out.facts(rows)
    reason = (_recorded(data, "complete_rapid_review") or {}).get("missing_returns_reason")
    if reason:
        out.heading(3, "Completed without every return")
        out.facts([("Why", str(reason))])


def _facts(out: _Writer, data: PackData) -> None:
    case = data.case
    incident, child = case.incident, case.child
    out.heading(2, SECTIONS[3])
    categories = incident.get("categories") or []
    out.facts(
        [
            ("Date of the incident", long_date(incident.get("occurred_on")) or NOT_YET),
            ("Outcome", _coded(incident.get("outcome"))),
            ("Abuse or neglect", _coded(incident.get("abuse_or_neglect"))),
            ("Categories", ", ".join(words(c) for c in categories) or NOT_YET),
            ("Summary as referred", _or_not_yet(case.summary)),
        ]
    )
    out.heading(3, "The child's context")
    age = child.get("age_years")
    disability = child.get("disability")
    out.facts(
        [
            ("Age", NOT_YET if age is None else f"{age} year{'' if age == 1 else 's'}"),
            ("Sex", _coded(child.get("sex"))),
            ("Legal status at the time", _coded(child.get("legal_status"))),
            ("Ethnicity", _or_not_yet(child.get("ethnicity"))),
            ("Disability", NOT_YET if disability is None else ("Yes" if disability else "No")),
        ]
    )


def _immediate_actions(out: _Writer, data: PackData) -> None:
    out.heading(2, SECTIONS[4])
    completed = _recorded(data, "complete_rapid_review") or {}
    out.facts([("Immediate actions taken", _or_not_yet(completed.get("immediate_actions")))])
    out.heading(3, "Improvement actions")
    if not data.actions:
        out.paragraph(f"{NOT_YET}: no improvement action is on the case.")
        return
    out.table(
        ("Action", "What", "From", "Owner", "Due", "Status"),
        (
            (
                a.reference,
                a.description,
                words(a.source),
                words(a.owner_agency),
                long_date(a.due_on),
                words(a.status) + (f" ({long_date(a.completed_on)})" if a.completed_on else ""),
            )
            for a in data.actions
        ),
    )


def _recommendation(out: _Writer, data: PackData) -> None:
    out.heading(2, SECTIONS[5])
    completed = _recorded(data, "complete_rapid_review")
    if completed is None:
        out.facts(
            [
                ("Recommendation", NOT_YET),
                ("Regulation 11 criteria relied on", NOT_YET),
                ("Rationale and learning", NOT_YET),
            ]
        )
        return
    criteria = [str(c) for c in completed.get("criteria") or []]
    relied = "\n".join(f"({c}) The case {REG_11.get(c, '')}".rstrip() for c in criteria)
    recommendation = completed.get("recommendation")
    out.facts(
        [
            ("Recommendation", words(recommendation) if recommendation else NOT_YET),
            ("Regulation 11 criteria relied on", relied or "None"),
            ("Rationale and learning", _or_not_yet(completed.get("rationale"))),
        ]
    )
    out.paragraph(
        "The criteria are those of regulation 11 of the Child Safeguarding Practice Review and "
        "Relevant Agency (England) Regulations 2018."
    )


def _gate_status(gate: GateRead) -> str:
    match gate.status:
        case "agreed":
            return f"Agreed on {long_date(gate.agreed_on)}" if gate.agreed_on else "Agreed"
        case "disputed":
            return "Disputed: a partner disagrees (the lead safeguarding partners resolve it)"
        case "open":
            return "Open: votes are being cast"
        case "closed":
            agreed = f", agreed on {long_date(gate.agreed_on)}" if gate.agreed_on else ""
            return f"Decided{agreed}"
    return NOT_YET


def _joint_decision(out: _Writer, data: PackData) -> None:
    out.heading(2, SECTIONS[6])
    gates = sorted(data.case.approvals.values(), key=lambda g: g.advisory)
    if not gates:
        out.paragraph(NOT_YET)
    for gate in gates:
        out.heading(3, gate.label)
        rows = [("Status", _gate_status(gate))]
        if gate.basis:
            rows.append(("Basis", gate.basis))
        if not gate.votes:
            rows.append(("Votes", NOT_YET))
        for v in gate.votes:
            rows.append(
                (
                    words(v.party),
                    f"{words(v.decision)}, decided on {long_date(v.decided_on)}.\n"
                    f"Rationale: {v.rationale}",
                )
            )
        if gate.missing and gate.status in ("open", "disputed"):
            rows.append(("Awaiting", ", ".join(words(p) for p in gate.missing)))
        out.facts(rows)


def _clocks(out: _Writer, data: PackData) -> None:
    out.heading(2, SECTIONS[7])
    deadlines = data.case.deadlines
    if not deadlines:
        out.paragraph(f"{NOT_YET}: no clock has started.")
    else:
        out.table(
            ("Clock", "Rule", "Kind", "Started", "Due", "Status", "Met on"),
            (
                (
                    clock_label(d),
                    d.rule,
                    words(d.kind),
                    long_date(d.starts_on),
                    long_date(d.due_on),
                    clock_status(d),
                    long_date(d.met_on) or "-",
                )
                for d in deadlines
            ),
        )
    out.heading(3, "Extensions")
    extended = [
        f"{clock_label(d)} ({d.rule}): due date moved from {long_date(e.previous_due_on)} to "
        f"{long_date(e.new_due_on)} on {long_date(e.at)}. Reason: {e.reason}"
        + (f" Agreed with: {e.agreed_with}." if e.agreed_with else "")
        for d in deadlines
        for e in d.extensions
    ]
    if extended:
        out.bullets(extended)
    else:
        out.paragraph("No clock has been extended.")


def _what_followed(out: _Writer, data: PackData) -> None:
    definition = data.definition
    out.heading(2, SECTIONS[8])
    later = [
        e
        for e in data.events
        if e.kind == "case.transitioned" and e.trigger and e.trigger not in RAPID_REVIEW_TRIGGERS
    ]
    if not later:
        out.paragraph(NOT_YET)
    for e in later:
        trigger = definition.triggers.get(e.trigger or "")
        out.heading(3, trigger.label if trigger is not None else words(e.trigger))
        rows = [("Recorded on", long_date(e.at))]
        rows += trigger_facts(definition, e.trigger or "", e.data)
        if e.to_state and e.to_state != e.from_state and e.to_state in definition.states:
            rows.append(("Stage afterwards", definition.states[e.to_state].label))
        out.facts(rows)


def _still_to_come(out: _Writer, data: PackData) -> None:
    case, definition = data.case, data.definition
    out.heading(2, SECTIONS[9])
    state = definition.states.get(case.state)
    if case.closed_at is not None or (state is not None and state.final):
        closed = f" on {long_date(case.closed_at)}" if case.closed_at else ""
        out.paragraph(f"Nothing: the case was closed{closed}.")
        return
    items = [
        f"The case is at: {case.state_label}."
        + (f" {state.description}" if state is not None and state.description else "")
    ]
    steps = [t.label for t in definition.triggers_from(case.state)]
    if steps:
        items.append("Next steps the workflow allows: " + "; ".join(steps) + ".")
    for d in case.deadlines:
        if d.status in ("pending", "breached") and d.subject_type is None:
            items.append(
                f"{clock_label(d)} ({d.rule}, {d.kind}): due {long_date(d.due_on)}"
                + ("; breached." if d.status == "breached" else ".")
            )
    awaited = [words(r.agency) for r in data.requests if r.status == "open"]
    if awaited:
        items.append("Information returns awaited from: " + ", ".join(awaited) + ".")
    for gate in case.approvals.values():
        if gate.status in ("open", "disputed") and gate.missing:
            awaited_votes = ", ".join(words(p) for p in gate.missing)
            items.append(f"{gate.label}: votes awaited from {awaited_votes}.")
    undone = [a.reference for a in data.actions if a.status in ("open", "in_progress")]
    if undone:
        items.append("Improvement actions not yet done: " + ", ".join(undone) + ".")
    out.bullets(items)
