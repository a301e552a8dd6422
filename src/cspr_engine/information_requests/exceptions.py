"""Errors about information requests (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import Conflict, Forbidden, NotFound


class InformationRequestNotFound(NotFound):
    slug, title = "information-request-not-found", "No such information request on this case"


class RequestForbidden(Forbidden):
    slug, title = "request-forbidden", "Your role may not ask for or withdraw information returns"


class AnswerForbidden(Forbidden):
    slug, title = "answer-forbidden", "Only the agency asked may make its information return"


class NoAgency(Forbidden):
    slug, title = "no-agency", "Your account acts for no agency"


class RequestsNotOpen(Conflict):
    slug, title = "requests-not-open", "Information requests are not taken at this stage"


class RequestNotOpen(Conflict):
    slug, title = "request-not-open", "The information request is no longer open"
