"""access.policy: who reads which case, as one rule for single reads, lists and the inbox;
read-only roles that no workflow may let change a case; every case route logged."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.access.dependencies import get_logged_actor
from cspr_engine.accounts.schemas import Role
from cspr_engine.alerts import service as alert_service
from cspr_engine.cases.models import Case
from cspr_engine.config import ConfigurationError
from cspr_engine.db import get_engine
from cspr_engine.workflow import service as workflow_service
from tests.conftest import NOW
from tests.factories import PEOPLE, Api, assert_problem, create_platform_admin

FULL_READERS = ("chair", "business", "dsp_la", "dsp_police", "dsp_health", "lsp_la")
FULL_READERS += ("scrutineer", "qpd", "superuser")


@pytest.fixture
def cases(api: Api) -> dict[str, dict[str, Any]]:
    return {
        "police": api.create_case(who="chair"),
        "education": api.create_case(who="chair", referring_agency="education"),
        # Opened by the education referrer for the coroner: its own, though not its agency's.
        "coroner": api.create_case(who="referrer_education", referring_agency="coroner"),
        "other_partnership": api.create_case(who="chair", partnership="OT"),
    }


# Which of the cases above each TW user reads (the rule, written out case by case).
READS: dict[str, set[str]] = {
    **{who: {"police", "education", "coroner"} for who in FULL_READERS},
    "referrer": {"police"},
    "referrer_education": {"education", "coroner"},
    "admin": set(),
}


def test_every_role_has_a_reach_and_every_user_an_expectation() -> None:
    assert set(policy.CASE_READ) == set(Role)
    assert set(READS) == {key for key, _, _ in PEOPLE}


@pytest.mark.parametrize("who", list(READS))
def test_each_user_reads_and_lists_exactly_the_cases_the_rule_gives_it(
    api: Api, cases: dict[str, dict[str, Any]], who: str
) -> None:
    for name, case in cases.items():
        for key in (case["id"], case["reference"]):
            response = api.client.get(f"/api/v1/cases/{key}", headers=api.headers(who))
            if name in READS[who]:
                assert response.status_code == 200, (who, name)
            else:
                assert_problem(response, 404, "/problems/case-not-found")
    listed = api.client.get("/api/v1/cases?limit=500", headers=api.headers(who)).json()["items"]
    assert {item["id"] for item in listed} == {cases[name]["id"] for name in READS[who]}


def test_the_sql_rule_and_the_reach_agree_for_every_user(
    api: Api, cases: dict[str, dict[str, Any]]
) -> None:
    from sqlmodel import col, select

    from cspr_engine.accounts import service as accounts_service

    with Session(get_engine()) as session:
        for who in READS:
            actor = accounts_service.authenticate(
                session=session, secret=api.directory.token(who), now=NOW
            )
            ids = set(session.exec(select(col(Case.id)).where(policy.readable_cases(actor))))
            assert ids == {uuid.UUID(cases[name]["id"]) for name in READS[who]}, who
            widest = policy.reach(actor)
            assert (widest is policy.Reach.none) == (not READS[who]), who


def test_a_platform_admin_reads_no_case(api: Api, cases: dict[str, dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {create_platform_admin(NOW)}"}
    listed = api.client.get("/api/v1/cases", headers=headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    for case in cases.values():
        for suffix in ("", "/events", "/deadlines", "/access"):
            response = api.client.get(f"/api/v1/cases/{case['id']}{suffix}", headers=headers)
            assert_problem(response, 404, "/problems/case-not-found")
    assert api.client.get("/api/v1/alerts", headers=headers).json()["items"] == []


def test_the_inbox_shows_an_alert_only_to_those_who_may_read_its_case(
    api: Api, cases: dict[str, dict[str, Any]]
) -> None:
    # An alert addressed to referrers, about the education referral.
    with Session(get_engine()) as session:
        case = session.get(Case, uuid.UUID(cases["education"]["id"]))
        assert case is not None
        alert_service.enqueue(
            session,
            type="case.transitioned",
            dedupe_key="test:referrers",
            case=case,
            data={},
            now=NOW,
            recipients=["referrer"],
        )
        session.commit()

    def inbox(who: str) -> list[str]:
        response = api.client.get("/api/v1/alerts", headers=api.headers(who))
        assert response.status_code == 200
        return [item["case_id"] for item in response.json()["items"]]

    assert inbox("referrer_education") == [cases["education"]["id"]]
    assert inbox("referrer") == []  # addressed to its role, but not its agency's case


class TestReadOnlyRoles:
    def definition(self) -> Any:
        return workflow_service.latest("cspr")

    def test_the_shipped_workflows_let_no_read_only_role_change_a_case(self) -> None:
        for definition in workflow_service.get_definitions().values():
            assert policy.check_workflow(definition) == []

    def test_a_workflow_that_lets_the_scrutineer_fire_a_trigger_is_refused(self) -> None:
        d = self.definition()
        notify = d.triggers["notify_panel"]
        changed = d.model_copy(
            update={
                "triggers": {
                    **d.triggers,
                    "notify_panel": notify.model_copy(
                        update={"roles": (*notify.roles, "scrutineer")}
                    ),
                }
            }
        )
        assert policy.check_workflow(changed) == [
            "cspr v1 trigger notify_panel: scrutineer changes nothing"
        ]

    def test_gates_clocks_and_creation_are_held_to_it_too(self) -> None:
        d = self.definition()
        gate = d.gates["dsp_joint_decision"]
        clock = d.clocks["rapid_review"]
        changed = d.model_copy(
            update={
                "create": d.create.model_copy(update={"roles": ("admin",)}),
                "gates": {**d.gates, gate.name: gate.model_copy(update={"parties": ("admin",)})},
                "clocks": {
                    **d.clocks,
                    clock.key: clock.model_copy(update={"extendable_by": ("scrutineer",)}),
                },
            }
        )
        assert policy.check_workflow(changed) == [
            "cspr v1 create: admin changes nothing",
            "cspr v1 gate dsp_joint_decision: admin changes nothing",
            "cspr v1 clock rapid_review extendable_by: scrutineer changes nothing",
        ]

    def test_the_service_does_not_start_with_such_a_workflow(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from cspr_engine.main import create_app

        d = self.definition()
        close = d.triggers["close"]
        bad = d.model_copy(
            update={
                "triggers": {
                    **d.triggers,
                    "close": close.model_copy(update={"roles": ("scrutineer",)}),
                }
            }
        )
        monkeypatch.setattr(workflow_service, "get_definitions", lambda: {("cspr", 1): bad})
        with pytest.raises(ConfigurationError, match="close: scrutineer changes nothing"):
            create_app()


def _depends_on(dependant: Dependant, target: object) -> bool:
    return any(d.call is target or _depends_on(d, target) for d in dependant.dependencies)


def test_every_case_route_writes_the_access_log(app: FastAPI) -> None:
    """A route under /cases that skipped LoggedActorDep (directly, or through CaseDep) would
    read or change a case without a trace."""
    from cspr_engine.access.router import router as access_router
    from cspr_engine.actions.router import router as actions_router
    from cspr_engine.cases.router import router as cases_router
    from cspr_engine.deadlines.router import router as deadlines_router
    from cspr_engine.documents.router import router as documents_router
    from cspr_engine.exports.router import router as exports_router  # issue #7: exports
    from cspr_engine.information_requests.router import router as requests_router
    from cspr_engine.links.router import router as links_router
    from cspr_engine.reports.router import router as reports_router  # issue #7: reports

    routers = (
        cases_router,
        deadlines_router,
        access_router,
        requests_router,
        actions_router,
        links_router,
        documents_router,
        exports_router,  # issue #7: exports
        reports_router,  # issue #7: reports (GET /cases/export.csv)
    )
    case_routes = [
        r
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute) and r.path.startswith("/cases")
    ]
    # Every case operation the app serves is one of these (a new router would show here).
    served = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/cases")
        for method in operations
    }
    assert served == {(m, r.path) for r in case_routes for m in r.methods}
    unlogged = [r.path for r in case_routes if not _depends_on(r.dependant, get_logged_actor)]
    assert unlogged == []
