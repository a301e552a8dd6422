"""No child's data and no secret reaches a log: a whole case path, run against a real uvicorn
server with its access log on and every logger at DEBUG (SQLAlchemy's included), with the
sweep and a webhook delivery, and a few requests built to make something leak (bad data, an
unknown trigger named with case text, a NUL in a query)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from cspr_engine.kit.clock import FixedClock
from cspr_engine.scheduler import jobs
from tests.conftest import _free_port
from tests.factories import Api, Directory, Receiver, deliver, uvicorn_in_thread

# Fixture data written to be unmistakable in a log line.
SUMMARY = "Zq7-SUMMARY infant admitted with unexplained fractures"
PARTNER_REFERENCE = "Zq7-PR-118"
ETHNICITY = "Zq7-ETHNICITY"
COMMENT = "Zq7-COMMENT the family moved twice"
RATIONALES = {
    "not_notifiable": "Zq7-RATIONALE-TRIGGER criteria met",
    "dsp_la": "Zq7-RATIONALE-LA agrees",
    "dsp_police": "Zq7-RATIONALE-POLICE disagrees",
    "dsp_health": "Zq7-RATIONALE-HEALTH agrees",
}
WEBHOOK_SECRET = "whsec_Zq7SecretForTheHygieneTest0123456789"


@pytest.fixture
def every_logger_at_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    names = {"sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "uvicorn", "uvicorn.access"}
    names |= {"uvicorn.error", "httpx", "httpcore", "apscheduler", "cspr_engine", "alembic"}
    names |= set(logging.root.manager.loggerDict)
    caplog.set_level(logging.DEBUG)
    for name in sorted(names):
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        # uvicorn's own logging set-up (other tests' servers) stops its loggers propagating;
        # a logging set-up elsewhere may have disabled some: this test hears all of them.
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
    return caplog


@pytest.fixture
def chatty_server(app: FastAPI) -> Iterator[str]:
    """The app on uvicorn with its access log on and its records left to propagate."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=_free_port(),
        log_config=None,
        log_level="debug",
        access_log=True,
    )
    with uvicorn_in_thread(config) as url:
        yield url


def run_a_case(api: Api, clock: FixedClock) -> None:
    """Referral to the DSP joint decision with a dispute, and the alerts it raises."""
    headers = api.headers
    # Aware early enough that the notification clock has breached by the suite's "now".
    case = api.create_case(
        who="referrer",
        became_aware_on="2026-06-05",
        incident={
            "occurred_on": "2026-06-04",
            "outcome": "serious_harm",
            "abuse_or_neglect": "suspected",
            "categories": ["physical_abuse"],
        },
        partner_reference=PARTNER_REFERENCE,
        summary=SUMMARY,
        child={"age_years": 2, "sex": "female", "ethnicity": ETHNICITY},
        comment=COMMENT,
    )
    case_id = case["id"]
    client = api.client
    assert client.get("/api/v1/cases", params={"q": PARTNER_REFERENCE}, headers=headers("chair"))
    # A NUL in a query (PostgreSQL refuses to store or search for it: 422).
    client.get("/api/v1/cases", params={"q": PARTNER_REFERENCE + "\x00"}, headers=headers("chair"))
    for suffix in ("", "/events", "/deadlines", "/transitions", "/access"):
        response = client.get(f"/api/v1/cases/{case_id}{suffix}", headers=headers("chair"))
        assert response.status_code == 200, response.text
    # Refusals and bad input that quote case text back (the service must not log it).
    client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"trigger": SUMMARY, "data": {"rationale": RATIONALES["not_notifiable"]}},
        headers=headers("chair"),
    )
    client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={
            "trigger": "notify_panel",
            "data": {"notified_on": RATIONALES["not_notifiable"], "panel_reference": SUMMARY},
        },
        headers=headers("chair"),
    )
    client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"trigger": "decide_not_notifiable", "data": {"rationale": SUMMARY}},
        headers=headers("scrutineer"),
    )
    client.get(f"/api/v1/cases/{case_id}", headers=headers("chair", "OT"))
    # The path on to the DSPs, whose police partner disagrees (the LSPs are alerted).
    assert api.fire(case_id, "notify_panel", {"notified_on": "2026-06-12"}).status_code == 200
    complete = {
        "completed_on": "2026-06-15",
        "recommendation": "lcspr",
        "criteria": ["a"],
        "rationale": RATIONALES["not_notifiable"],
    }
    assert api.fire(case_id, "complete_rapid_review", complete).status_code == 200
    for who in ("dsp_la", "dsp_police", "dsp_health"):
        decision = "disagree" if who == "dsp_police" else "agree"
        assert api.vote(case_id, who, decision, rationale=RATIONALES[who]).status_code == 200
    # Clocks and alerts: the sweep, and a delivery to a real webhook receiver.
    jobs.sweep_deadlines(clock)
    deliver(clock)


def test_a_whole_case_path_leaves_no_child_data_or_secret_in_the_logs(
    every_logger_at_debug: pytest.LogCaptureFixture,
    chatty_server: str,
    directory: Directory,
    clock: FixedClock,
) -> None:
    caplog = every_logger_at_debug
    with Receiver() as receiver, httpx.Client(base_url=chatty_server, timeout=30) as http:
        api = Api(http, directory)
        subscribed = http.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["*"], "secret": WEBHOOK_SECRET},
            headers=api.headers("admin"),
        )
        assert subscribed.status_code == 201, subscribed.text
        run_a_case(api, clock)
        assert receiver.received, "the webhook delivery did not happen"

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    # The capture really heard the server, the database and the delivery.
    heard = {record.name.split(".")[0] for record in caplog.records}
    assert {"uvicorn", "sqlalchemy", "httpx"} <= heard, heard
    # uvicorn logged the search, without what was searched for.
    assert any(
        r.name == "uvicorn.access" and "/api/v1/cases?..." in r.getMessage() for r in caplog.records
    )
    assert any(
        r.name == "uvicorn.access" and "/api/v1/cases" in r.getMessage() for r in caplog.records
    )

    secrets: dict[str, str] = {
        "summary": SUMMARY,
        "partner_reference": PARTNER_REFERENCE,
        "ethnicity": ETHNICITY,
        "comment": COMMENT,
        "webhook secret": WEBHOOK_SECRET,
        **{f"rationale ({who})": text for who, text in RATIONALES.items()},
        **{
            f"token of {who} in {code}": token
            for code, tokens in directory.tokens.items()
            for who, token in tokens.items()
        },
    }
    leaks = [(what, line[:200]) for line in lines for what, text in secrets.items() if text in line]
    assert leaks == []


def test_the_filters_cut_query_strings_and_rows_only() -> None:
    from cspr_engine.kit.logs import DropQueryStrings, DropResultRows

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/v1/cases?q=" + PARTNER_REFERENCE, "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /api/v1/cases?... HTTP/1.1" 200'
    row = logging.LogRecord("sqlalchemy.engine.Engine", 10, __file__, 1, "Row %r", (1,), None)
    statement = logging.LogRecord("sqlalchemy.engine.Engine", 20, __file__, 1, "SELECT 1", (), None)
    assert not DropResultRows().filter(row)
    assert DropResultRows().filter(statement)
