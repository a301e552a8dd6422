"""HTTP for reports: the timeliness and activity report (JSON, or CSV with `Accept: text/csv`)
and the CSV export of the cases the caller can read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from cspr_engine.access.dependencies import LoggedActorDep
from cspr_engine.db import SessionDep
from cspr_engine.errors import error_responses
from cspr_engine.kit.clock import ClockDep, london_date
from cspr_engine.kit.schemas import IsoDate
from cspr_engine.reports import service as report_service
from cspr_engine.reports.exceptions import InvalidPeriod, ReportForbidden
from cspr_engine.reports.schemas import TimelinessReport

router = APIRouter(tags=["reports"])

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

FromQuery = Annotated[
    IsoDate | None,
    Query(
        alias="from",
        description="The period's first day (YYYY-MM-DD). Default: the start of the financial "
        "year containing `to` (or, without `to`, today).",
    ),
]
ToQuery = Annotated[
    IsoDate | None,
    Query(
        description="The period's last day, included (YYYY-MM-DD). Default: the end of the "
        "financial year containing `from` (or, without `from`, today). At most 5 years after "
        "`from`."
    ),
]
AcceptHeader = Annotated[
    str | None,
    Header(
        max_length=2_000,
        description="`text/csv` for the report as CSV (`section,key,metric,value`).",
    ),
]


def _csv_content(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }


def wants_csv(accept: str | None) -> bool:
    """Whether `accept` prefers `text/csv` to JSON (by q-value; JSON when they tie)."""
    quality: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media:
            quality[media] = max(q, quality.get(media, 0.0))

    def q_of(media: str) -> float:
        kind = media.split("/")[0]
        for candidate in (media, f"{kind}/*", "*/*"):
            if candidate in quality:
                return quality[candidate]
        return 0.0

    return q_of("text/csv") > q_of("application/json")


def csv_response(text: str, filename: str) -> Response:
    """A CSV download: UTF-8, to be saved (never shown inline), named `filename`."""
    return Response(
        content=text,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def report_filename(report: TimelinessReport) -> str:
    period = report.period
    return f"timeliness-{report.partnership}-{period.from_}-to-{period.to}.csv"


@router.get(
    "/reports/timeliness",
    response_model=TimelinessReport,
    summary="The timeliness and activity report of your partnership's cases for a period",
    description=(
        "Counts of referrals, notifications, rapid reviews, the Panel's responses and local "
        "reviews by the date each event happened; for each statutory clock due in the period, "
        "how many were met on time, met late, breached, still open, cancelled and extended, "
        "with the median and 90th percentile (nearest rank) of the working days taken; the "
        "open breaches; improvement actions open, overdue and completed. `definitions` in the "
        "response says exactly what each figure counts. Your own partnership's cases only. "
        "For the panel chair, the business unit, the DSPs, the LSPs, the scrutineer and the "
        "QPD group. With `Accept: text/csv`, the same figures as CSV."
    ),
    responses={
        **_csv_content("The report (JSON), or with `Accept: text/csv` the same as CSV."),
        **error_responses(ReportForbidden, InvalidPeriod),
    },
)
def timeliness_report(
    session: SessionDep,
    actor: LoggedActorDep,
    clock: ClockDep,
    start: FromQuery = None,
    to: ToQuery = None,
    accept: AcceptHeader = None,
) -> TimelinessReport | Response:
    now = clock.now()
    report_service.check_may_read(actor)
    period = report_service.resolve_period(start=start, end=to, today=london_date(now))
    report = report_service.timeliness(session, actor=actor, period=period, now=now)
    if wants_csv(accept):
        return csv_response(report_service.report_csv(report), report_filename(report))
    return report


@router.get(
    "/cases/export.csv",
    response_class=Response,
    summary="Every case you can read, one row each, as CSV",
    description=(
        "The cases `GET /cases` lists for you, oldest first: reference, id, partnership, "
        "workflow, state, referring agency, partner reference, dates, and each statutory "
        "clock's due date and status (its latest instance, as of now). No child's details."
    ),
    responses={**_csv_content("The cases as CSV, with a header row."), **error_responses()},
)
def export_cases(session: SessionDep, actor: LoggedActorDep, clock: ClockDep) -> Response:
    now = clock.now()
    text = report_service.cases_csv(session, actor=actor, now=now)
    prefix = f"cases-{actor.partnership_code}" if actor.partnership_code else "cases"
    return csv_response(text, f"{prefix}-{london_date(now)}.csv")
