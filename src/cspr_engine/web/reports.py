"""The reports page: the timeliness and activity report for a period chosen with two date
inputs (default: this financial year), as tables and server-drawn charts, with its CSV to
download. The figures are the API's (reports.service); nothing here counts anything."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from cspr_engine.access import policy
from cspr_engine.db import SessionDep
from cspr_engine.kit.clock import ClockDep, london_date
from cspr_engine.kit.schemas import IsoDate
from cspr_engine.reports import charts
from cspr_engine.reports import service as report_service
from cspr_engine.reports.exceptions import InvalidPeriod
from cspr_engine.reports.router import csv_response, report_filename
from cspr_engine.reports.schemas import PANEL_OUTCOMES, TimelinessReport
from cspr_engine.web import forms
from cspr_engine.web.auth import LoggedWebUserDep, WebUser
from cspr_engine.web.forms import Field, Form
from cspr_engine.web.router import render
from cspr_engine.web.templating import long_date, templates

router = APIRouter(prefix="/ui/reports", include_in_schema=False)

HINT = "For example, 1 4 2026"
OUTCOME_WORDS = {
    "agrees_lcspr": "Agrees a local review (LCSPR)",
    "agrees_no_lcspr": "Agrees no local review is needed",
    "national_review": "Will carry out a national review",
    "further_information_requested": "Asks for further information",
}


def may_read_reports(user: WebUser | None) -> bool:
    """Whether the navigation offers the reports page to `user`."""
    return user is not None and policy.may(user.actor, policy.Permission.read_reports)


# The service navigation (base.html) shows "Reports" to those who may read them.
templates.env.globals["may_read_reports"] = may_read_reports


def period_form() -> Form:
    return Form(
        [
            Field(name="from", id="period-from", label="From", kind="date", hint=HINT),
            Field(
                name="to",
                id="period-to",
                label="To",
                kind="date",
                hint=HINT + ". The period includes this day.",
            ),
        ]
    )


def _date_parts(day: date) -> dict[str, str]:
    return {"day": str(day.day), "month": str(day.month), "year": str(day.year)}


@router.get("", name="ui_reports")
def reports_page(
    request: Request, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> HTMLResponse:
    report_service.check_may_read(user.actor)
    now = clock.now()
    form = period_form()
    asked: list[tuple[str, str | UploadFile]] = list(request.query_params.multi_items())
    data = forms.read(form, FormData(asked))
    report: TimelinessReport | None = None
    if not form.errors:
        try:
            period = report_service.resolve_period(
                start=_iso(data.get("from")), end=_iso(data.get("to")), today=london_date(now)
            )
        except InvalidPeriod as exc:
            detail = exc.detail or "The period is not valid"
            form.add_error(str(exc.extensions.get("parameter")), detail[:1].upper() + detail[1:])
        else:
            report = report_service.timeliness(session, actor=user.actor, period=period, now=now)
            # The period shown is the one counted (the defaults filled in).
            values = {"from": period.start, "to": period.end}
            form.fields = [replace(f, value=_date_parts(values[f.name])) for f in form.fields]
    context: dict[str, Any] = {"form": form, "report": report}
    if report is not None:
        query = urlencode({"from": report.period.from_, "to": report.period.to})
        context |= {
            "csv_url": f"/ui/reports/timeliness.csv?{query}",
            "clock_chart": charts.clock_outcomes(report.figures),
            "activity_chart": charts.activity(report.figures),
            "panel_outcomes": [(o, OUTCOME_WORDS.get(o, o)) for o in PANEL_OUTCOMES],
            "period_words": f"{long_date(report.period.from_)} to {long_date(report.period.to)}",
        }
    return render(
        request,
        "reports/timeliness.html",
        context,
        user=user,
        status_code=200 if report is not None else 422,
    )


def _iso(value: Any) -> date | None:
    """The form's ISO date text as a date (forms.read has checked it is a real one)."""
    return date.fromisoformat(value) if isinstance(value, str) else None


@router.get("/timeliness.csv", name="ui_reports_csv")
def report_csv(
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
    start: Annotated[IsoDate | None, Query(alias="from")] = None,
    to: Annotated[IsoDate | None, Query()] = None,
) -> Response:
    report_service.check_may_read(user.actor)
    now = clock.now()
    period = report_service.resolve_period(start=start, end=to, today=london_date(now))
    report = report_service.timeliness(session, actor=user.actor, period=period, now=now)
    return csv_response(report_service.report_csv(report), report_filename(report))
