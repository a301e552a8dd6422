"""Workflow versions: a case keeps the version it started on; a migration file moves the cases
of one version to the next, reported first (a dry run that changes nothing), then applied
through the same rules as any change (`cspr-engine admin migrate-workflow`).

The fixture set: a workflows directory holding a copy of the real cspr v1 and a v2 made from
it here (a state renamed, a clock renamed, the rapid review counted in 10 working days
instead of 15, a clock removed, a clock's kind and the edition changed), and cases of v1 in
several states with clocks pending, met, breached, extended and cancelled.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, col, select

from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case
from cspr_engine.config import PROJECT_ROOT, get_settings
from cspr_engine.db import get_engine
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import get_calendar
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import FixedClock
from cspr_engine.kit.tables import metadata
from cspr_engine.workflow import engine, versioning
from cspr_engine.workflow.definitions import (
    WorkflowDefinition,
    _UniqueKeyLoader,
    parse_definition,
)
from cspr_engine.workflow.service import get_definitions
from tests.conftest import NOW
from tests.factories import Api, referral
from tests.processes import cli_command, service_env

Raw = dict[str, Any]
REAL = PROJECT_ROOT / "workflows" / "cspr.yaml"
MIGRATION = "cspr-1-to-2.yaml"
REASON = "Working Together 2026 (test edition): the rapid review within 10 working days."
MIGRATION_TEXT = f"""\
workflow: cspr
from_version: 1
to_version: 2
reason: >-
  {REASON}
states:
  dsp_decision: partners_decision
clocks:
  panel_notification: panel_notice
  lcspr_quality_check: cancel
"""


def v1_raw() -> Raw:
    raw = yaml.load(REAL.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    assert isinstance(raw, dict)
    assert raw["version"] == 1
    return copy.deepcopy(raw)


def _renamed(mapping: Raw, old: str, new: str) -> Raw:
    return {new if k == old else k: v for k, v in mapping.items()}


def v2_raw() -> Raw:
    """cspr v2 as the tests define it, from the real v1."""
    raw = v1_raw()
    raw["version"] = 2
    raw["edition"] = "Working Together to Safeguard Children 2026 (test edition)"
    # A state renamed: every trigger and gate that names it follows.
    raw["states"] = _renamed(raw["states"], "dsp_decision", "partners_decision")
    for trigger in raw["triggers"].values():
        trigger["from"] = [
            "partners_decision" if s == "dsp_decision" else s for s in trigger["from"]
        ]
        if trigger.get("to") == "dsp_decision":
            trigger["to"] = "partners_decision"
    for gate in raw["gates"].values():
        if gate["state"] == "dsp_decision":
            gate["state"] = "partners_decision"
    clocks = raw["clocks"]
    clocks["rapid_review"]["due"] = {"working_days": 10}
    clocks["rapid_review"]["basis"] = "Working Together 2026 (test edition): 10 working days"
    clocks["lcspr_completion"]["kind"] = "advisory"
    clocks["panel_notification"]["label"] = "Notify the Panel (v2)"
    raw["clocks"] = _renamed(clocks, "panel_notification", "panel_notice")
    del raw["clocks"]["lcspr_quality_check"]
    return raw


def dump(raw: Raw) -> str:
    return yaml.safe_dump(raw, sort_keys=False)


@dataclass
class Versions:
    """The workflows directory the service reads in this test."""

    path: Path

    def add(self, raw: Raw, name: str = "cspr-v2.yaml") -> None:
        (self.path / name).write_text(dump(raw), encoding="utf-8")
        get_definitions.cache_clear()  # as a restarted service would read the directory

    def migration(self, text: str = MIGRATION_TEXT, name: str = MIGRATION) -> Path:
        folder = self.path / "migrations"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def versions(tmp_path: Path) -> Iterator[Versions]:
    """CSPR_WORKFLOWS_DIR pointed at a copy of the real v1 (and its calendar); every cache that
    holds definitions is cleared on the way in and out, so nothing of v2 outlives the test."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(REAL, folder / "cspr.yaml")
    shutil.copytree(PROJECT_ROOT / "workflows" / "calendars", folder / "calendars")
    caches = (get_settings, get_definitions, get_calendar)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSPR_WORKFLOWS_DIR", str(folder))
        # The engine keeps machines by (name, version): this test's v2 stays in this test.
        patch.setattr(engine, "_specs", {})
        patch.setattr(engine, "_local", threading.local())
        for cached in caches:
            cached.cache_clear()
        try:
            yield Versions(folder)
        finally:
            patch.undo()
            for cached in caches:
                cached.cache_clear()


# -- the fixture set ---------------------------------------------------------------------------


def at(day: str) -> datetime:
    """10:00 in London (BST) on `day`."""
    return datetime.fromisoformat(f"{day}T09:00:00+00:00")


def create(api: Api, aware: str, partnership: str = "TW") -> dict[str, Any]:
    body = referral()
    incident = {**body["incident"], "occurred_on": aware}
    return api.create_case(partnership=partnership, became_aware_on=aware, incident=incident)


COMPLETE = {
    "completed_on": "2026-06-15",
    "recommendation": "lcspr",
    "criteria": ["a"],
    "rationale": "Multi-agency learning is likely.",
}


@dataclass
class FixtureSet:
    breached: dict[str, Any]  # referred; both clocks breached and swept
    rapid: dict[str, Any]  # rapid_review; its rapid review clock pending over a bank holiday
    partners: dict[str, Any]  # dsp_decision, one DSP's vote cast
    lcspr: dict[str, Any]  # lcspr_in_progress: completion extended, quality check pending
    closed: dict[str, Any]  # closed: its clocks cancelled
    other: dict[str, Any]  # partnership OT, referred
    newer: dict[str, Any]  # created once v2 is in place

    def v1_cases(self) -> list[dict[str, Any]]:
        return [self.other, self.breached, self.rapid, self.partners, self.lcspr, self.closed]


def fixture_set(api: Api, clock: FixedClock, versions: Versions) -> FixtureSet:
    clock.set(NOW)
    # Aware on Wednesday 20 May 2026, referred four weeks later: the Panel was due to be told
    # by 28 May (Monday 25 May is a bank holiday), the rapid review by 11 June. The sweep has
    # since raised the panel notification's escalation and the rapid review's breach.
    breached = create(api, "2026-05-20")
    with Session(get_engine()) as session:
        deadline_service.sweep(session, now=NOW)
        session.commit()

    # The same awareness date, recorded the next day: the rapid review is still pending.
    clock.set(at("2026-05-21"))
    rapid = create(api, "2026-05-20")
    api.ok(rapid["id"], "notify_panel", {"notified_on": "2026-05-21"})

    clock.set(NOW)
    partners = create(api, "2026-06-10")
    api.ok(partners["id"], "notify_panel", {"notified_on": "2026-06-12"})
    api.ok(partners["id"], "complete_rapid_review", COMPLETE)
    assert api.vote(partners["id"], "dsp_la").status_code == 200

    lcspr = create(api, "2026-06-10")
    api.ok(lcspr["id"], "notify_panel", {"notified_on": "2026-06-12"})
    api.ok(lcspr["id"], "complete_rapid_review", COMPLETE)
    for dsp in ("dsp_la", "dsp_police", "dsp_health"):
        assert api.vote(lcspr["id"], dsp).status_code == 200
    api.ok(lcspr["id"], "submit_rapid_review", {"submitted_on": "2026-06-17"})
    api.ok(
        lcspr["id"],
        "record_panel_response",
        {"received_on": "2026-06-17", "outcome": "agrees_lcspr"},
    )
    api.ok(
        lcspr["id"],
        "commission_lcspr",
        {
            "reviewer": "Independent reviewer",
            "methodology": "Systems review",
            "terms_of_reference_agreed_on": "2026-06-17",
            "scope_from": "2025-01-01",
            "scope_to": "2026-06-01",
        },
    )
    api.ok(
        lcspr["id"],
        "record_delay",
        {
            "reason": "A key agency's records arrived late.",
            "revised_completion_on": "2027-02-26",
            "panel_and_sos_informed_on": "2026-06-17",
        },
    )

    closed = create(api, "2026-06-10")
    api.ok(
        closed["id"],
        "decide_not_notifiable",
        {"rationale": "The criteria are not met.", "alternative_learning": "none"},
    )
    other = create(api, "2026-06-10", partnership="OT")

    versions.add(v2_raw())
    newer = create(api, "2026-06-10")
    assert newer["workflow_version"] == 2
    cases = FixtureSet(breached, rapid, partners, lcspr, closed, other, newer)
    # Every case as it now stands (its version, after the triggers above).
    fresh = {c["id"]: case_row(c["id"]) for c in [*cases.v1_cases(), newer]}
    for case in [*cases.v1_cases(), newer]:
        case["version"] = fresh[case["id"]].version
        case["state_entered_version"] = fresh[case["id"]].state_entered_version
    return cases


# -- reading the database ----------------------------------------------------------------------


def database() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order."""
    with get_engine().connect() as conn:
        return {
            table.name: [
                dict(row)
                for row in conn.execute(
                    table.select().order_by(*table.primary_key.columns)
                ).mappings()
            ]
            for table in metadata.sorted_tables
        }


def case_row(case_id: str) -> Case:
    with Session(get_engine()) as session:
        found = session.get(Case, uuid.UUID(case_id))
        assert found is not None
        return found


def clocks_of(case_id: str) -> dict[tuple[str, int], Deadline]:
    with Session(get_engine()) as session:
        rows = session.exec(select(Deadline).where(col(Deadline.case_id) == uuid.UUID(case_id)))
        return {(d.key, d.sequence): d for d in rows}


def events_of(case_id: str, kind: str) -> list[AuditEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.case_id) == uuid.UUID(case_id), col(AuditEvent.kind) == kind)
                .order_by(col(AuditEvent.seq))
            )
        )


def end_of(day: str) -> datetime:
    """23:59:59 in London on `day` (British Summer Time on every day used here)."""
    return datetime.fromisoformat(f"{day}T22:59:59+00:00")


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back what was stored; compare instants in UTC either way."""
    return value.astimezone(UTC) if value is not None else None


# -- running the command -----------------------------------------------------------------------


def run(
    database_url: str, versions: Versions, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`cspr-engine admin ...` as its own process on the test database and directory."""
    return subprocess.run(
        cli_command("admin", *args),
        env=service_env(
            database_url, CSPR_WORKFLOWS_DIR=str(versions.path), CSPR_SCHEDULER_ENABLED="false"
        ),
        cwd=tmp_path,  # no stray .env file is read
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report(cases: FixtureSet, scope: str = "all partnerships") -> list[str]:
    """The dry-run report, worked out by hand: due dates by the England & Wales calendar."""
    head = [
        f"cspr v1 -> v2 ({MIGRATION}), {scope}",
        f"reason: {REASON}",
    ]
    other = [
        f"{cases.other['reference']} (version {cases.other['version']}): state referred "
        "(unchanged)",
        "  panel_notification #1: renamed to panel_notice",
        # From Wednesday 10 June: 15 working days is 1 July, 10 is 24 June; the warning two
        # working days before each.
        "  rapid_review #1: due 2026-07-01 -> 2026-06-24; next alert 2026-06-29 -> 2026-06-22",
    ]
    breached = [
        f"{cases.breached['reference']} (version {cases.breached['version']}): state referred "
        "(unchanged)",
        "  panel_notification #1: renamed to panel_notice",
        # A breach stands: 10 working days from 20 May (25 May a bank holiday) is 4 June.
        "  rapid_review #1: keeps its due date 2026-06-11 (breached; the new rule gives "
        "2026-06-04)",
    ]
    rapid = [
        f"{cases.rapid['reference']} (version {cases.rapid['version']}): state rapid_review "
        "(unchanged)",
        "  panel_notification #1: renamed to panel_notice",
        # 21, 22, (25 May a bank holiday) 26, 27, 28, 29 May, 1, 2, 3, 4 June: the 10th
        # working day; the warning on 2 June.
        "  rapid_review #1: due 2026-06-11 -> 2026-06-04; next alert 2026-06-09 -> 2026-06-02",
    ]
    partners = [
        f"{cases.partners['reference']} (version {cases.partners['version']}): state "
        "dsp_decision -> partners_decision",
        "  panel_notification #1: renamed to panel_notice",
        "  rapid_review #1: due 2026-07-01 -> 2026-06-24; next alert 2026-06-29 -> 2026-06-22",
    ]
    lcspr = [
        f"{cases.lcspr['reference']} (version {cases.lcspr['version']}): state "
        "lcspr_in_progress (unchanged)",
        # Agreed on 17 June: six months is 17 December; extended to 26 February 2027.
        "  lcspr_completion #1: kind statutory -> advisory; keeps its due date 2027-02-26 "
        "(extended; the new rule gives 2026-12-17)",
        # Due Friday 17 July, warned Wednesday 15 July; the command runs after that (the
        # machine's own clock), so the cancelled clock was overdue and keeps its breach.
        "  lcspr_quality_check #1: pending -> cancelled (the clock is not in the new version); "
        "overdue: its breach stays on record; next alert 2026-07-15 -> none",
        "  panel_notification #1: renamed to panel_notice",
    ]
    closed = [
        f"{cases.closed['reference']} (version {cases.closed['version']}): state closed "
        "(unchanged)",
        "  panel_notification #1: renamed to panel_notice",
    ]
    if scope == "all partnerships":
        body = other + breached + rapid + partners + lcspr + closed
        total = (
            "totals: 6 case(s) to migrate from v1 to v2, 1 changing state; 11 clock "
            "instance(s) change: 6 renamed, 1 cancelled, 3 due date(s) moved, 1 kind(s) "
            "changed, 4 next alert(s) moved; 2 running clock(s) keep their due date; 1 case(s) "
            "already at v2 (skipped)"
        )
    else:
        body = breached + rapid + partners + lcspr + closed
        total = (
            "totals: 5 case(s) to migrate from v1 to v2, 1 changing state; 9 clock "
            "instance(s) change: 5 renamed, 1 cancelled, 2 due date(s) moved, 1 kind(s) "
            "changed, 3 next alert(s) moved; 2 running clock(s) keep their due date; 1 case(s) "
            "already at v2 (skipped)"
        )
    return [*head, *body, total]


DRY_RUN_END = "dry run: nothing was changed; run again with --apply to make these changes"


# -- a case keeps its version ------------------------------------------------------------------


def test_new_cases_take_the_latest_version_and_running_cases_keep_theirs(
    versions: Versions, api: Api
) -> None:
    old = create(api, "2026-06-10")
    assert old["workflow_version"] == 1
    api.ok(old["id"], "notify_panel", {"notified_on": "2026-06-12"})

    versions.add(v2_raw())
    versions.migration()  # beside them, in a subfolder the service does not read
    assert set(get_definitions()) == {("cspr", 1), ("cspr", 2)}
    new = create(api, "2026-06-10")
    assert new["workflow_version"] == 2

    # The v1 case fires v1's trigger into v1's state, which v2 calls otherwise.
    moved = api.ok(old["id"], "complete_rapid_review", COMPLETE)
    assert (moved["state"], moved["workflow_version"]) == ("dsp_decision", 1)
    shown = api.get_case(old["id"])
    assert shown["workflow_version"] == 1
    v1_clocks = {d["key"]: d for d in shown["deadlines"]}
    assert set(v1_clocks) == {"panel_notification", "rapid_review"}
    assert v1_clocks["panel_notification"]["label"] == "Notify the Panel"
    assert v1_clocks["rapid_review"]["due_on"] == "2026-07-01"  # v1: 15 working days
    assert v1_clocks["rapid_review"]["basis"].startswith("Working Together 2023")

    api.ok(new["id"], "notify_panel", {"notified_on": "2026-06-12"})
    assert api.ok(new["id"], "complete_rapid_review", COMPLETE)["state"] == "partners_decision"
    v2_clocks = {d["key"]: d for d in api.get_case(new["id"])["deadlines"]}
    assert set(v2_clocks) == {"panel_notice", "rapid_review"}
    assert v2_clocks["panel_notice"]["label"] == "Notify the Panel (v2)"
    assert v2_clocks["rapid_review"]["due_on"] == "2026-06-24"  # v2: 10 working days

    # Each version's states are its own: v1's name is unknown to the v2 case and the reverse.
    assert (
        api.fire(new["id"], "submit_rapid_review", {"submitted_on": "2026-06-17"}).status_code
        == 409
    )
    listed = api.client.get("/api/v1/workflows", headers=api.headers("chair")).json()
    assert {(w["name"], w["version"]) for w in listed["items"]} == {("cspr", 1), ("cspr", 2)}
    assert listed["next_cursor"] is None


# -- the migration file ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def both() -> dict[tuple[str, int], WorkflowDefinition]:
    v1 = parse_definition(dump(v1_raw()), "cspr.yaml")
    v2 = parse_definition(dump(v2_raw()), "cspr-v2.yaml")
    return {("cspr", 1): v1, ("cspr", 2): v2}


def test_a_migration_file_maps_every_state_and_clock(
    both: dict[tuple[str, int], WorkflowDefinition],
) -> None:
    migration = versioning.parse_migration(MIGRATION_TEXT, "migrations/" + MIGRATION, both)
    assert migration.name == MIGRATION
    assert migration.reason == REASON
    assert set(migration.states) == set(both[("cspr", 1)].states)
    assert migration.states["dsp_decision"] == "partners_decision"
    assert migration.states["rapid_review"] == "rapid_review"
    assert migration.clocks == {
        **{k: k for k in both[("cspr", 1)].clocks},
        "panel_notification": "panel_notice",
        "lcspr_quality_check": None,
    }


def _without(section: str, key: str) -> str:
    raw = yaml.safe_load(MIGRATION_TEXT)
    del raw[section][key]
    return yaml.safe_dump(raw, sort_keys=False)


def _with(section: str, key: str, value: Any) -> str:
    raw = yaml.safe_load(MIGRATION_TEXT)
    raw.setdefault(section, {})[key] = value
    return yaml.safe_dump(raw, sort_keys=False)


def _set(key: str, value: Any) -> str:
    raw = yaml.safe_load(MIGRATION_TEXT)
    raw[key] = value
    return yaml.safe_dump(raw, sort_keys=False)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        pytest.param(
            _without("states", "dsp_decision"),
            "state 'dsp_decision' of cspr v1 is not in v2: map it under `states`",
            id="state-not-mapped",
        ),
        pytest.param(
            _with("states", "referral", "referred"),
            "states.referral: 'referral' is not a state of cspr v1",
            id="unknown-old-state",
        ),
        pytest.param(
            _with("states", "dsp_decision", "partner_decision"),
            "states.dsp_decision: 'partner_decision' is not a state of v2",
            id="unknown-new-state",
        ),
        pytest.param(
            _with("states", "action_monitoring", "closed"),
            "states.action_monitoring: 'action_monitoring' is not final in cspr v1, 'closed' is "
            "final in v2",
            id="open-to-final",
        ),
        pytest.param(
            _without("clocks", "panel_notification"),
            "clock 'panel_notification' of cspr v1 is not in v2: map it under `clocks` to a v2 "
            "clock or to `cancel`",
            id="clock-not-mapped",
        ),
        pytest.param(
            _with("clocks", "panel_notification", "panel_notify"),
            "clocks.panel_notification: 'panel_notify' is not a clock of v2 (nor `cancel`)",
            id="unknown-new-clock",
        ),
        pytest.param(
            _with("clocks", "appeal", "cancel"),
            "clocks.appeal: 'appeal' is not a clock of cspr v1",
            id="unknown-old-clock",
        ),
        pytest.param(
            _with("clocks", "rapid_review", "panel_notice"),
            "clocks: panel_notification and rapid_review would both be kept as panel_notice",
            id="two-clocks-into-one",
        ),
        pytest.param(
            _with("clocks", "action_due", "rapid_review"),
            "clocks.action_due: action_due and rapid_review are not alike (one is due on its "
            "record's own date, the other by a rule)",
            id="record-clock-into-case-clock",
        ),
        pytest.param(
            _set("to_version", 3),
            "cspr v3 is not among the workflow files",
            id="missing-target",
        ),
        pytest.param(
            _set("to_version", 1),
            "to_version must be later than from_version",
            id="backwards",
        ),
        pytest.param(
            _set("to_version", "2"),
            "to_version: Input should be a valid integer",
            id="text-version",
        ),
        pytest.param(
            _set("reason", ""), "reason: String should have at least 1 character", id="no-reason"
        ),
        pytest.param(
            _set("owner", "me"), "owner: Extra inputs are not permitted", id="unknown-key"
        ),
        pytest.param(
            MIGRATION_TEXT + "states:\n  closed: closed\n",
            "duplicate key 'states'",
            id="duplicate-key",
        ),
        pytest.param("states: [unclosed\n", "while parsing a flow sequence", id="malformed"),
        pytest.param("- a list\n", "the file must be a mapping", id="not-a-mapping"),
    ],
)
def test_a_migration_file_that_cannot_be_used_is_refused_naming_the_entry(
    both: dict[tuple[str, int], WorkflowDefinition], text: str, fault: str
) -> None:
    with pytest.raises(versioning.MigrationFileError) as caught:
        versioning.parse_migration(text, "migrations/bad.yaml", both)
    message = str(caught.value)
    assert message.startswith("migrations/bad.yaml: "), message
    assert fault in message, message
    assert "\n" not in message


def test_a_migration_file_that_is_not_there(
    both: dict[tuple[str, int], WorkflowDefinition], tmp_path: Path
) -> None:
    with pytest.raises(versioning.MigrationFileError) as caught:
        versioning.load_migration(tmp_path / "absent.yaml", both)
    assert str(caught.value) == f"{tmp_path / 'absent.yaml'}: cannot be read (FileNotFoundError)"


# -- dry run, then apply -----------------------------------------------------------------------


def test_the_dry_run_reports_exactly_what_will_change_and_changes_nothing(
    versions: Versions, api: Api, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    cases = fixture_set(api, clock, versions)
    path = versions.migration()
    before = database()

    done = run(database_url, versions, tmp_path, "migrate-workflow", str(path))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.splitlines() == [*report(cases), DRY_RUN_END]
    assert database() == before

    # One partnership only.
    done = run(
        database_url, versions, tmp_path, "migrate-workflow", str(path), "--partnership", "tw"
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.splitlines() == [*report(cases, "partnership TW"), DRY_RUN_END]
    assert database() == before


def test_apply_migrates_each_case_once_as_reported(
    versions: Versions, api: Api, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    cases = fixture_set(api, clock, versions)
    path = versions.migration()
    before = {c["id"]: clocks_of(c["id"]) for c in cases.v1_cases()}
    stored = database()

    done = run(
        database_url,
        versions,
        tmp_path,
        "migrate-workflow",
        str(path),
        "--partnership",
        "TW",
        "--apply",
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    lines = done.stdout.splitlines()
    reported = report(cases, "partnership TW")
    # What apply says it does is the dry run's report, then one line per case.
    assert lines[: len(reported)] == reported
    tw = [cases.breached, cases.rapid, cases.partners, cases.lcspr, cases.closed]
    assert lines[len(reported) :] == [
        *(f"{c['reference']}: migrated to v2 (case version {c['version'] + 1})" for c in tw),
        "applied: 5 case(s) migrated, 0 skipped, 0 not migrated",
    ]

    # Nothing changed but what the report names: the clock instances it lists (a clock that
    # only keeps its due date is untouched), the five cases, and the events appended.
    after = database()
    named = {
        before[c["id"]][key].id
        for c, key in [
            (cases.breached, ("panel_notification", 1)),
            (cases.rapid, ("panel_notification", 1)),
            (cases.rapid, ("rapid_review", 1)),
            (cases.partners, ("panel_notification", 1)),
            (cases.partners, ("rapid_review", 1)),
            (cases.lcspr, ("lcspr_completion", 1)),
            (cases.lcspr, ("lcspr_quality_check", 1)),
            (cases.lcspr, ("panel_notification", 1)),
            (cases.closed, ("panel_notification", 1)),
        ]
    }
    old_rows = {row["id"]: row for row in stored["deadlines"]}
    changed = {row["id"] for row in after["deadlines"] if row != old_rows[row["id"]]}
    assert changed == named
    tw_ids = {uuid.UUID(c["id"]) for c in tw}
    old_cases = {row["id"]: row for row in stored["cases"]}
    for row in after["cases"]:
        old_row = old_cases[row["id"]]
        moved = {k for k in row if row[k] != old_row[k]}
        case_id = uuid.UUID(str(row["id"]))
        if case_id in tw_ids:
            expected = {"workflow_version", "version", "updated_at"}
            if case_id == uuid.UUID(cases.partners["id"]):
                expected.add("state")
            assert moved == expected, moved
        else:
            assert not moved
    appended = {"audit_events": 5, "outbox_events": 5}
    for table, rows in after.items():
        if table in ("cases", "deadlines"):
            continue
        kept = [row for row in rows if row in stored[table]]
        assert kept == stored[table], table
        assert len(rows) - len(kept) == appended.get(table, 0), table

    # Each case: at v2, its state mapped, one version on, one audit and one outbox event.
    for case in tw:
        row = case_row(case["id"])
        assert row.workflow_version == 2
        assert row.version == case["version"] + 1
        migrated = events_of(case["id"], "case.migrated")
        assert [e.seq for e in migrated] == [row.version]
        event = migrated[0]
        assert event.workflow_version == 2
        assert event.actor_roles == ["system"]
        assert event.basis == REASON
        assert event.data["migration"] == MIGRATION
        assert (event.data["from_version"], event.data["to_version"]) == (1, 2)
    outbox = database()["outbox_events"]
    assert sorted(
        str(e["case_id"]).replace("-", "") for e in outbox if e["type"] == "case.migrated"
    ) == sorted(c["id"].replace("-", "") for c in tw)
    # The audit event records each clock change, column by column.
    (event,) = events_of(cases.rapid["id"], "case.migrated")
    assert (event.from_state, event.to_state) == ("rapid_review", "rapid_review")
    assert event.data["clocks"] == [
        {
            "clock": "panel_notification",
            "sequence": 1,
            "key": {"from": "panel_notification", "to": "panel_notice"},
        },
        {
            "clock": "rapid_review",
            "sequence": 1,
            "due_on": {"from": "2026-06-11", "to": "2026-06-04"},
            "next_rung_at": {"from": "2026-06-09T22:59:59Z", "to": "2026-06-02T22:59:59Z"},
        },
    ]
    (event,) = events_of(cases.breached["id"], "case.migrated")
    assert event.data["clocks"][1] == {
        "clock": "rapid_review",
        "sequence": 1,
        "kept_due_on": {"because": "breached", "rule_gives": "2026-06-04"},
    }
    (event,) = events_of(cases.partners["id"], "case.migrated")
    assert (event.from_state, event.to_state) == ("dsp_decision", "partners_decision")
    assert case_row(cases.partners["id"]).state == "partners_decision"
    assert case_row(cases.lcspr["id"]).state == "lcspr_in_progress"
    assert case_row(cases.other["id"]).workflow_version == 1  # another partnership's

    # Renamed, with every other column as it was (a met clock: nothing else moves).
    rapid = clocks_of(cases.rapid["id"])
    assert set(rapid) == {("panel_notice", 1), ("rapid_review", 1)}
    old_notice = before[cases.rapid["id"]][("panel_notification", 1)]
    notice = rapid[("panel_notice", 1)]
    assert (notice.id, notice.status, notice.due_on, notice.met_on) == (
        old_notice.id,
        "met",
        date(2026, 5, 28),
        date(2026, 5, 21),
    )
    # Recounted from 20 May in 10 working days over the bank holiday; its ladder again.
    review = rapid[("rapid_review", 1)]
    assert (review.status, review.due_on, review.rungs_fired) == ("pending", date(2026, 6, 4), 0)
    assert utc(review.due_at) == end_of("2026-06-04")
    assert utc(review.next_rung_at) == end_of("2026-06-02")
    assert review.starts_on == date(2026, 5, 20)
    assert review.calendar_version == get_calendar().version

    # A breach stands: due date, status and ladder as the sweep left them.
    breached = clocks_of(cases.breached["id"])
    review = breached[("rapid_review", 1)]
    old_review = before[cases.breached["id"]][("rapid_review", 1)]
    assert (review.status, review.due_on, review.rungs_fired) == ("breached", date(2026, 6, 11), 2)
    assert utc(review.next_rung_at) == utc(old_review.next_rung_at) == end_of("2026-06-18")
    assert breached[("panel_notice", 1)].status == "breached"
    assert breached[("panel_notice", 1)].rungs_fired == 3

    # The extended clock keeps its agreed date and its history; its kind follows v2. The
    # quality check, gone from v2, is cancelled with its breach on record.
    lcspr = clocks_of(cases.lcspr["id"])
    completion = lcspr[("lcspr_completion", 1)]
    assert (completion.kind, completion.due_on, completion.status) == (
        "advisory",
        date(2027, 2, 26),
        "pending",
    )
    assert after["deadline_extensions"] == stored["deadline_extensions"]
    check = lcspr[("lcspr_quality_check", 1)]
    assert check.status == "cancelled"
    assert check.cancelled_at is not None
    assert check.next_rung_at is None
    assert utc(check.breached_at) == end_of("2026-07-17")
    assert lcspr[("rapid_review", 1)].status == "met"
    (entry,) = [
        e
        for e in events_of(cases.lcspr["id"], "case.migrated")[0].data["clocks"]
        if e["clock"] == "lcspr_quality_check"
    ]
    assert entry["status"] == {"from": "pending", "to": "cancelled"}

    # The renamed state keeps its approval round: the vote cast under v1 still counts.
    partners = api.get_case(cases.partners["id"])
    assert (partners["state"], partners["workflow_version"]) == ("partners_decision", 2)
    assert (
        case_row(cases.partners["id"]).state_entered_version
        == (cases.partners["state_entered_version"])
    )
    gate = partners["approvals"]["dsp_joint_decision"]
    assert gate["round"] == cases.partners["state_entered_version"]
    assert [v["party"] for v in gate["votes"]] == ["dsp:local_authority"]
    for dsp in ("dsp_police", "dsp_health"):
        assert api.vote(cases.partners["id"], dsp).status_code == 200
    submitted = api.ok(cases.partners["id"], "submit_rapid_review", {"submitted_on": "2026-06-17"})
    assert submitted["state"] == "awaiting_panel_response"
    # The case shows v2's clocks: its label, its rule.
    shown = {d["key"]: d for d in api.get_case(cases.rapid["id"])["deadlines"]}
    assert shown["panel_notice"]["label"] == "Notify the Panel (v2)"
    assert shown["rapid_review"]["basis"] == "Working Together 2026 (test edition): 10 working days"

    # The rest: OT's case; the TW cases are at v2 already.
    done = run(database_url, versions, tmp_path, "migrate-workflow", str(path), "--apply")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert case_row(cases.other["id"]).workflow_version == 2
    assert (
        "totals: 1 case(s) to migrate from v1 to v2, 0 changing state; 2 clock instance(s) "
        "change: 1 renamed, 0 cancelled, 1 due date(s) moved, 0 kind(s) changed, 1 next "
        "alert(s) moved; 0 running clock(s) keep their due date; 6 case(s) already at v2 "
        "(skipped)"
    ) in done.stdout.splitlines()

    # A second run changes nothing.
    settled = database()
    done = run(database_url, versions, tmp_path, "migrate-workflow", str(path), "--apply")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.splitlines() == [
        f"cspr v1 -> v2 ({MIGRATION}), all partnerships",
        f"reason: {REASON}",
        "totals: 0 case(s) to migrate from v1 to v2, 0 changing state; 0 clock instance(s) "
        "change: 0 renamed, 0 cancelled, 0 due date(s) moved, 0 kind(s) changed, 0 next "
        "alert(s) moved; 0 running clock(s) keep their due date; 7 case(s) already at v2 "
        "(skipped)",
        "applied: 0 case(s) migrated, 0 skipped, 0 not migrated",
    ]
    assert database() == settled

    # Every audit chain still verifies.
    verified = run(database_url, versions, tmp_path, "verify-audit")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == "audit chain intact: 7 case(s)"


@pytest.mark.parametrize("fault", ["malformed", "missing-v2", "state-not-mapped"])
def test_a_migration_that_cannot_run_exits_2_with_one_line_and_changes_nothing(
    versions: Versions,
    api: Api,
    clock: FixedClock,
    database_url: str,
    tmp_path: Path,
    fault: str,
) -> None:
    clock.set(NOW)
    case = create(api, "2026-06-10")
    api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-12"})
    api.ok(case["id"], "complete_rapid_review", COMPLETE)
    if fault != "missing-v2":
        versions.add(v2_raw())
    text = {
        "malformed": MIGRATION_TEXT.replace("clocks:\n", "clocks: [\n"),
        "missing-v2": MIGRATION_TEXT,
        "state-not-mapped": _without("states", "dsp_decision"),
    }[fault]
    path = versions.migration(text)
    before = database()

    done = run(database_url, versions, tmp_path, "migrate-workflow", str(path), "--apply")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {path}: "), line
    assert {
        "malformed": "while parsing",
        "missing-v2": "cspr v2 is not among the workflow files",
        "state-not-mapped": "state 'dsp_decision' of cspr v1 is not in v2",
    }[fault] in line
    assert "Traceback" not in done.stderr
    assert database() == before


def test_an_unknown_partnership_exits_2_and_changes_nothing(
    versions: Versions, api: Api, database_url: str, tmp_path: Path
) -> None:
    create(api, "2026-06-10")
    versions.add(v2_raw())
    path = versions.migration()
    before = database()
    done = run(
        database_url,
        versions,
        tmp_path,
        "migrate-workflow",
        str(path),
        "--partnership",
        "XX",
        "--apply",
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "error: no partnership XX\n")
    assert database() == before


# -- renames that pass through a key in use ----------------------------------------------------


SWAP = """\
workflow: cspr
from_version: 1
to_version: 2
reason: The two clocks trade places.
states:
  dsp_decision: partners_decision
clocks:
  panel_notification: rapid_review
  rapid_review: panel_notice
  lcspr_quality_check: cancel
"""


def test_clocks_may_trade_keys(versions: Versions, api: Api, session: Session) -> None:
    case = create(api, "2026-06-10")  # both clocks pending: the Panel by 17 June, review 1 July
    versions.add(v2_raw())
    migration = versioning.parse_migration(SWAP, "swap.yaml", get_definitions())
    old = clocks_of(case["id"])
    done = versioning.apply_case(
        session, migration=migration, case_id=uuid.UUID(case["id"]), now=NOW
    )
    session.commit()
    assert done is not None
    now = clocks_of(case["id"])
    assert set(now) == {("rapid_review", 1), ("panel_notice", 1)}
    # Each row took the other's key and is counted by that clock's v2 rule from its own start.
    moved = now[("rapid_review", 1)]
    assert moved.id == old[("panel_notification", 1)].id
    assert moved.due_on == date(2026, 6, 24)  # 10 working days from 10 June
    notice = now[("panel_notice", 1)]
    assert notice.id == old[("rapid_review", 1)].id
    assert notice.due_on == date(2026, 6, 17)  # 5 working days from 10 June
    # A second apply finds the case at v2: nothing to do.
    assert (
        versioning.apply_case(session, migration=migration, case_id=uuid.UUID(case["id"]), now=NOW)
        is None
    )
