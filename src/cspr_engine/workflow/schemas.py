"""API shapes for workflow definitions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class WorkflowSummary(BaseModel):
    name: str
    version: int
    title: str
    edition: str | None
    states: int
    triggers: int


class WorkflowList(BaseModel):
    """Every definition loaded at start-up: a short, fixed list, whole on one page (so
    `next_cursor` is always null)."""

    items: list[WorkflowSummary]
    next_cursor: str | None


class WorkflowDetail(BaseModel):
    name: str
    version: int
    title: str
    edition: str | None
    description: str | None
    initial: str
    create: dict[str, Any]
    roles: list[str]
    agencies: list[str]
    states: dict[str, dict[str, Any]]
    triggers: dict[str, dict[str, Any]]
    gates: dict[str, dict[str, Any]]
    clocks: dict[str, dict[str, Any]]
    escalation: list[dict[str, Any]]
