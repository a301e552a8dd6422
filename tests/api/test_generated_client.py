"""A partner's view of the committed OpenAPI document: a Python client generated from
openapi/openapi.json with openapi-python-client (pinned, hash-locked in
requirements/openapi-client.txt, run in a virtual environment of its own) builds, imports, and
alone drives a case on a real `cspr-engine serve`: opens a referral, reads it, lists what may be
fired, notifies the Panel, lists the cases, with typed results.

The generator's environment is kept under var/openapi-client/, named by the lock's hash, so
only a changed lock builds it again."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from cspr_engine.api.openapi import SPEC_PATH
from cspr_engine.kit.clock import LONDON
from tests.processes import ROOT, Server, start_server

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(
        os.environ.get("CSPR_TEST_DATABASE_URL", "").startswith("postgres"),
        reason="the generated client is checked once, in the SQLite suite: it tests the "
        "document, not the database",
    ),
]

LOCK = ROOT / "requirements" / "openapi-client.txt"
CACHE = ROOT / "var" / "openapi-client"
PACKAGE = "cspr_engine_client"
BOOTSTRAP = "bootstrap-" + uuid.uuid4().hex
PIP_LOCKED = ("--require-hashes", "-r", str(LOCK))
INSTALL_SECONDS = 600
GENERATE_SECONDS = 300


def generator_python() -> Path:
    """The Python of a virtual environment with exactly the locked generator, made once per
    version of the lock (built aside, then moved into place: two runs never share a half-made
    one)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    final = CACHE / digest
    python = final / "bin" / "python"
    if python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / f"{digest}.{os.getpid()}.building"
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet", *PIP_LOCKED],
        check=True,
        env=env,
        timeout=INSTALL_SECONDS,
    )
    try:
        building.rename(final)
    except OSError:  # another run got there first: its environment serves
        shutil.rmtree(building, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    out = tmp_path_factory.mktemp("generated")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n", encoding="utf-8")
    result = subprocess.run(
        [
            str(generator_python()),
            *("-m", "openapi_python_client", "generate", "--meta", "none"),
            *("--path", str(SPEC_PATH), "--output-path", str(out / PACKAGE)),
            *("--config", str(config)),
        ],
        capture_output=True,
        text=True,
        timeout=GENERATE_SECONDS,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / PACKAGE / "api" / "cases").is_dir(), result.stdout
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    served = start_server(database_url, tmp_path, "serve", CSPR_BOOTSTRAP_ADMIN_TOKEN=BOOTSTRAP)
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def chair_token(url: str) -> str:
    """A partnership and its panel chair's case system (a service account), set up as a
    platform admin with the bootstrap token and plain HTTP."""
    admin = {"Authorization": f"Bearer {BOOTSTRAP}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=admin, timeout=30) as http:
        made = http.post("/partnerships", json={"code": "GC", "name": "Generated Client SCP"})
        assert made.status_code == 201, made.text
        user = http.post(
            "/users",
            json={
                "email": "chair-system@gc.example",
                "display_name": "GC panel chair's case system",
                "partnership": "GC",
                "roles": ["panel_chair"],
                "service_account": True,
            },
        )
        assert user.status_code == 201, user.text
        token = http.post("/tokens", json={"user_id": user.json()["id"], "name": "generated"})
        assert token.status_code == 201, token.text
        return str(token.json()["token"])


def test_a_generated_client_drives_a_case(client_package: ModuleType, server: Server) -> None:
    models = part(client_package, "models")
    cases = {
        name: part(client_package, f"api.cases.cases_{name}")
        for name in ("create_case", "read_case", "list_transitions", "fire_transition")
    }
    list_cases = part(client_package, "api.cases.cases_list_cases")
    list_deadlines = part(client_package, "api.deadlines.deadlines_list_deadlines")
    # The server keeps real time: the incident became known two days ago, in London.
    today = datetime.now(LONDON).date()
    aware = today - timedelta(days=2)

    with client_package.AuthenticatedClient(
        base_url=server.url, token=chair_token(server.url)
    ) as api:
        referral = models.CaseCreate(
            became_aware_on=aware,
            referring_agency=models.CaseCreateReferringAgency.POLICE,
            partner_reference="GC-CLIENT-1",
            incident=models.Incident(
                outcome=models.IncidentOutcome.SERIOUS_HARM,
                abuse_or_neglect=models.IncidentAbuseOrNeglect.SUSPECTED,
                categories=[models.IncidentCategoriesItem.NEGLECT],
            ),
        )
        created = cases["create_case"].sync_detailed(client=api, body=referral)
        assert created.status_code == 201, created.content
        case = created.parsed
        assert isinstance(case, models.CaseRead)
        assert (case.state, case.version, case.workflow) == ("referred", 1, "cspr")
        assert case.reference.startswith("GC-")
        assert created.headers["etag"] == '"1"'
        assert created.headers["location"] == f"/api/v1/cases/{case.id}"
        clocks = {d.key: d for d in case.deadlines}
        assert clocks["panel_notification"].status == models.DeadlineReadStatus.PENDING
        assert clocks["panel_notification"].starts_on == aware
        assert clocks["panel_notification"].statutory is True
        assert "notify_panel" in case.allowed_triggers

        read = cases["read_case"].sync(str(case.id), client=api)
        assert isinstance(read, models.CaseRead)
        assert (read.id, read.version, read.partner_reference) == (case.id, 1, "GC-CLIENT-1")

        options = cases["list_transitions"].sync(str(case.id), client=api)
        assert isinstance(options, models.TriggerOptionList)
        assert options.next_cursor is None
        assert "notify_panel" in [o.trigger for o in options.items]

        notify = models.TransitionRequest(
            trigger="notify_panel",
            data=models.TransitionRequestData.from_dict({"notified_on": today.isoformat()}),
            comment="Notified through the Panel's online form.",
        )
        # Conditional on the version read, as a partner would.
        fired = cases["fire_transition"].sync_detailed(
            case.reference, client=api, body=notify, if_match='"1"'
        )
        assert fired.status_code == 200, fired.content
        moved = fired.parsed
        assert isinstance(moved, models.CaseRead)
        assert (moved.state, moved.version) == ("rapid_review", 2)
        assert fired.headers["etag"] == '"2"'
        clocks = {d.key: d for d in moved.deadlines}
        assert clocks["panel_notification"].status == models.DeadlineReadStatus.MET
        assert clocks["panel_notification"].met_on == today
        assert clocks["rapid_review"].status == models.DeadlineReadStatus.PENDING

        # The same call again names a stale version: a typed problem document, 412.
        stale = cases["fire_transition"].sync_detailed(
            case.reference, client=api, body=notify, if_match='"1"'
        )
        assert stale.status_code == 412
        assert isinstance(stale.parsed, models.Problem)
        assert stale.parsed.status == 412

        deadlines = list_deadlines.sync(str(case.id), client=api)
        assert isinstance(deadlines, models.DeadlineList)
        assert [d.key for d in deadlines.items] == [d.key for d in moved.deadlines]

        listed = list_cases.sync(client=api, limit=10)
        assert isinstance(listed, models.CaseList)
        assert [(c.reference, c.state) for c in listed.items] == [(case.reference, "rapid_review")]
        assert listed.next_cursor is None
