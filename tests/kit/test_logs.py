"""Log lines as JSON (or text): each carries its request's id and the authenticated user's id,
and an exception only as its type and frames, never its message (which may quote case text)."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from cspr_engine.accounts import service as accounts_service
from cspr_engine.config import Environment, Settings
from cspr_engine.kit.logs import (
    JsonFormatter,
    TextFormatter,
    exception_summary,
    log_config,
    log_format,
)
from tests.conftest import _free_port
from tests.factories import Api, Directory, set_password, sign_in, uvicorn_in_thread

# Case text written to be unmistakable in a log line.
SUMMARY = "Zq8-SUMMARY infant admitted with unexplained fractures"
PARTNER_REFERENCE = "Zq8-PR-118"
BUG = "Zq8-BUG the message of an exception quoting case text"


def _record(exc: BaseException | None = None, msg: str = "job %s failed") -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("cspr_engine.test", logging.ERROR, __file__, 1, msg, ("7",), exc_info)


def _raised() -> ValueError:
    try:
        raise ValueError(BUG)
    except ValueError as exc:
        return exc


def test_a_json_line_has_the_fields_and_an_exception_without_its_message() -> None:
    line = JsonFormatter().format(_record(_raised()))
    assert "\n" not in line
    parsed = json.loads(line)
    assert set(parsed) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "actor_id",
        "pid",
        "exc_type",
        "exc_frames",
    }
    assert parsed["level"] == "ERROR"
    assert parsed["logger"] == "cspr_engine.test"
    assert parsed["message"] == "job 7 failed"
    assert parsed["time"].endswith("Z")
    # Outside a request there is no request nor actor.
    assert parsed["request_id"] is None
    assert parsed["actor_id"] is None
    assert parsed["exc_type"] == "ValueError"
    # Where it was raised (a file outside src/ and site-packages keeps its whole path).
    raised_at = _raised.__code__.co_firstlineno + 2
    assert parsed["exc_frames"] == [f"{__file__}:{raised_at} in _raised"]
    assert BUG not in line


def test_a_frame_in_a_package_is_named_from_the_package() -> None:
    from cspr_engine.kit.logs import _where

    assert _where("/srv/app/src/cspr_engine/cases/service.py") == "cspr_engine/cases/service.py"
    assert _where("/v/lib/python3.11/site-packages/fastapi/routing.py") == "fastapi/routing.py"


def test_a_text_line_gives_the_exception_as_a_traceback_without_its_message() -> None:
    line = TextFormatter().format(_record(_raised()))
    first, *rest = line.splitlines()
    assert first.endswith(" ERROR cspr_engine.test: job 7 failed")
    raised_at = _raised.__code__.co_firstlineno + 2
    assert rest == [
        "Traceback (most recent call last):",
        f"  at {__file__}:{raised_at} in _raised",
        "ValueError: (message withheld)",
    ]
    assert BUG not in line


def test_an_exception_of_this_service_is_named_with_its_module() -> None:
    from cspr_engine.cases.exceptions import CaseNotFound

    try:
        raise CaseNotFound(BUG)
    except CaseNotFound:
        summary = exception_summary(sys.exc_info())
    assert summary is not None
    assert summary.type == "cspr_engine.cases.exceptions.CaseNotFound"
    assert summary.message is None
    assert exception_summary(None) is None


def test_a_database_error_is_told_by_its_first_line_which_hides_the_parameters() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    locked = OperationalError(
        "UPDATE cases SET summary=? WHERE id=?",
        (BUG, 1),
        Exception("database is locked"),
        hide_parameters=True,
    )
    try:
        raise locked
    except OperationalError:
        summary = exception_summary(sys.exc_info())
    assert summary is not None
    assert summary.type == "sqlalchemy.exc.OperationalError"
    assert summary.message == "(builtins.Exception) database is locked"
    line = json.loads(JsonFormatter().format(_record(locked)))
    assert line["exc_message"] == "(builtins.Exception) database is locked"
    text = TextFormatter().format(_record(locked))
    assert text.endswith(
        "\nsqlalchemy.exc.OperationalError: (builtins.Exception) database is locked"
    )
    # Any other database error (a constraint's DETAIL quotes the key) is withheld.
    duplicate = IntegrityError("INSERT", {}, Exception(f"Key (summary)=({BUG}) already exists"))
    assert "exc_message" not in json.loads(JsonFormatter().format(_record(duplicate)))
    assert BUG not in TextFormatter().format(_record(duplicate))


@pytest.mark.parametrize(
    ("environment", "chosen", "expected"),
    [
        (Environment.development, None, "text"),
        (Environment.test, None, "text"),
        (Environment.production, None, "json"),
        (Environment.development, "json", "json"),
        (Environment.production, "text", "text"),
    ],
)
def test_the_format_is_json_in_production_unless_chosen(
    environment: Environment, chosen: str | None, expected: str
) -> None:
    settings = Settings.model_construct(environment=environment, log_format=chosen)
    assert log_format(settings) == expected
    config = log_config(settings)
    formatter = config["formatters"]["cspr"]["()"].rsplit(".", 1)[1]
    assert formatter == {"json": "JsonFormatter", "text": "TextFormatter"}[expected]
    # uvicorn's loggers write through the same handler.
    assert config["loggers"]["uvicorn.access"] == {"handlers": [], "propagate": True}


def test_an_unknown_format_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="log_format"):
        Settings(log_format="xml")


# -- through a real server ------------------------------------------------------------------


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Every record of the process written as a JSON line into a buffer, uvicorn's included."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    loggers = [
        logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        # Another test's server set uvicorn's loggers up to stop at their own handlers.
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
        logger.setLevel(logging.INFO)  # (setLevel, which also clears the loggers' caches)
    loggers[0].addHandler(handler)
    yield buffer
    loggers[0].removeHandler(handler)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=_free_port(), log_config=None, access_log=True
    )
    with uvicorn_in_thread(config) as url:
        yield url


def _parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_request_logs_json_lines_with_its_request_id_and_actor_id_and_no_case_content(
    json_lines: io.StringIO,
    server: str,
    directory: Directory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chair = directory.user_ids["TW"]["chair"]
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    set_password("chair@tw.example")
    with httpx.Client(base_url=server, timeout=30) as http:
        api = Api(http, directory)
        case = api.create_case(summary=SUMMARY, partner_reference=PARTNER_REFERENCE)
        # Over the API with a token, then a page with the session cookie, then a refusal that
        # quotes case text back.
        read = http.get(
            f"/api/v1/cases/{case['id']}",
            params={"q": PARTNER_REFERENCE},
            headers=api.headers("chair", **{"X-Request-ID": "req-api-1"}),
        )
        assert read.status_code == 200, read.text
        assert sign_in(http, "chair@tw.example").status_code == 200  # type: ignore[arg-type]
        page = http.get(f"/ui/cases/{case['reference']}", headers={"X-Request-ID": "req-page-1"})
        assert page.status_code == 200, page.text
        http.cookies.clear()
        refused = http.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={"trigger": SUMMARY, "data": {"rationale": SUMMARY}},
            headers=api.headers("referrer", **{"X-Request-ID": "req-refused-1"}),
        )
        assert refused.status_code == 422, refused.text
        anonymous = http.get("/api/v1/cases", headers={"X-Request-ID": "req-anonymous-1"})
        assert anonymous.status_code == 401

    lines = _parsed(json_lines)  # every line is one JSON object
    by_request = {
        line["request_id"]: line
        for line in lines
        if line["logger"] == "uvicorn.access" and line["request_id"]
    }
    assert by_request["req-api-1"]["actor_id"] == chair
    assert f"/api/v1/cases/{case['id']}?... HTTP" in by_request["req-api-1"]["message"]
    assert by_request["req-page-1"]["actor_id"] == chair
    assert by_request["req-refused-1"]["actor_id"] == directory.user_ids["TW"]["referrer"]
    assert by_request["req-anonymous-1"]["actor_id"] is None
    for line in lines:
        assert set(line) >= {"time", "level", "logger", "message", "request_id", "actor_id"}
    text = json_lines.getvalue()
    assert SUMMARY not in text
    assert PARTNER_REFERENCE not in text


def test_a_500_is_logged_with_its_request_and_actor_and_the_exception_type_only(
    json_lines: io.StringIO,
    server: str,
    directory: Directory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cspr_engine.cases import router as cases_router

    with httpx.Client(base_url=server, timeout=30) as http:
        api = Api(http, directory)
        case = api.create_case()

        def broken(*_args: object, **_kwargs: object) -> object:
            raise RuntimeError(BUG)

        monkeypatch.setattr(cases_router, "_case_response", broken)
        response = http.get(
            f"/api/v1/cases/{case['id']}",
            headers=api.headers("chair", **{"X-Request-ID": "req-bug-1"}),
        )
        assert response.status_code == 500

    def lines_of_the_request() -> list[dict[str, Any]]:
        return [line for line in _parsed(json_lines) if line["request_id"] == "req-bug-1"]

    # uvicorn logs the exception once the response is sent: it may come just after.
    give_up = time.monotonic() + 10
    while not any("exc_type" in line for line in lines_of_the_request()):
        assert time.monotonic() < give_up, f"no exception line: {lines_of_the_request()}"
        time.sleep(0.05)
    lines = lines_of_the_request()
    chair = directory.user_ids["TW"]["chair"]
    # This service's own line (written outside every middleware) and uvicorn's, both with the
    # request and the actor.
    handler = next(line for line in lines if line["logger"] == "cspr_engine.errors")
    assert handler["message"].startswith("unhandled error RuntimeError on GET /api/v1/cases/")
    assert handler["actor_id"] == chair
    server_line = next(line for line in lines if "exc_type" in line)
    assert server_line["exc_type"] == "RuntimeError"
    assert server_line["actor_id"] == chair
    assert any(frame.endswith(" in broken") for frame in server_line["exc_frames"])
    assert BUG not in json_lines.getvalue()
