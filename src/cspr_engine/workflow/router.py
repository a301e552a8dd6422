"""HTTP for workflow definitions: list, read (with each rule's basis), Mermaid diagram."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.errors import error_responses
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition
from cspr_engine.workflow.diagram import mermaid
from cspr_engine.workflow.exceptions import WorkflowNotFound
from cspr_engine.workflow.schemas import WorkflowDetail, WorkflowList, WorkflowSummary

router = APIRouter(prefix="/workflows", tags=["workflows"])

WorkflowName = Annotated[str, Path(max_length=64)]
VersionQuery = Annotated[int | None, Query(ge=1, le=10_000, description="Default: the latest.")]


def _pick(name: str, version: int | None) -> WorkflowDefinition:
    return workflow_service.get(name, version) if version else workflow_service.latest(name)


@router.get(
    "",
    response_model=WorkflowList,
    summary="Workflow definitions and versions",
    responses=error_responses(),
)
def list_workflows(_actor: ActorDep) -> WorkflowList:
    items = [
        WorkflowSummary(
            name=d.name,
            version=d.version,
            title=d.title,
            edition=d.edition,
            states=len(d.states),
            triggers=len(d.triggers),
        )
        for _, d in sorted(workflow_service.get_definitions().items())
    ]
    return WorkflowList(items=items, next_cursor=None)


@router.get(
    "/{name}",
    response_model=WorkflowDetail,
    summary="A workflow's states, triggers, gates and clocks",
    responses=error_responses(WorkflowNotFound),
)
def read_workflow(
    name: WorkflowName, _actor: ActorDep, version: VersionQuery = None
) -> WorkflowDetail:
    d = _pick(name, version)
    dump = d.model_dump(mode="json", by_alias=True, exclude={"source_path"})
    return WorkflowDetail(**dump)


@router.get(
    "/{name}/diagram",
    response_class=PlainTextResponse,
    summary="A workflow's Mermaid state diagram",
    responses={200: {"content": {"text/plain": {}}}, **error_responses(WorkflowNotFound)},
)
def workflow_diagram(
    name: WorkflowName, _actor: ActorDep, version: VersionQuery = None
) -> PlainTextResponse:
    return PlainTextResponse(mermaid(_pick(name, version)))
