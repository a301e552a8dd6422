"""Mermaid state diagrams drawn from a definition (the same data the engine runs)."""

from __future__ import annotations

from cspr_engine.workflow.definitions import WorkflowDefinition


def mermaid(definition: WorkflowDefinition, current: str | None = None) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {definition.initial}"]
    for state in definition.states.values():
        lines.append(f"    {state.name} : {state.label}")
    for t in definition.triggers.values():
        for source in t.source:
            if t.branches:
                for b in t.branches:
                    cond = ", ".join(f"{k}={v}" for k, v in b.when.items())
                    lines.append(f"    {source} --> {b.to} : {t.name} [{cond}]")
            else:
                lines.append(f"    {source} --> {t.to or source} : {t.name}")
    for state in definition.states.values():
        if state.final:
            lines.append(f"    {state.name} --> [*]")
    if current is not None:
        lines.append("    classDef current fill:#ffdd00,stroke:#0b0c0c,stroke-width:3px")
        lines.append(f"    class {current} current")
    return "\n".join(lines) + "\n"
