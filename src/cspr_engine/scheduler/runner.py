"""APScheduler wiring, in one place: it wakes the sweep and the delivery, nothing more.

In-memory job store (no pickled jobs: the database is the source of truth), coalescing (a
late wake-up runs once, not once per missed interval), one instance of each job at a time,
and no misfire grace limit, so a late run is never silently dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from cspr_engine.alerts.delivery import Sender
from cspr_engine.config import Settings
from cspr_engine.kit.clock import Clock, SystemClock
from cspr_engine.kit.logs import install_log_filters
from cspr_engine.scheduler import jobs

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        install_log_filters()  # the worker runs without the app (`cspr-engine worker`)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.sender = Sender(settings)
        self.failures = 0
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        every = settings.sweep_seconds
        now = datetime.now(UTC)
        self._scheduler.add_job(
            jobs.sweep_deadlines,
            "interval",
            seconds=every,
            args=[self.clock],
            id="sweep_deadlines",
            next_run_time=now,
        )
        self._scheduler.add_job(
            jobs.deliver_alerts,
            "interval",
            seconds=every,
            args=[self.clock, self.sender, settings],
            id="deliver_alerts",
            next_run_time=now,
        )
        self._scheduler.add_listener(self._on_problem, EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def _on_problem(self, event: JobExecutionEvent) -> None:
        self.failures += 1
        if event.exception is not None:
            log.error("job %s failed: %s", event.job_id, type(event.exception).__name__)
        else:
            log.warning("job %s missed its run time", event.job_id)

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler started: sweep and delivery every %ss", self.settings.sweep_seconds)

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=True)
        self.sender.close()
