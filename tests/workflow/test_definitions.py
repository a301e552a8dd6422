"""The loader refuses a bad workflow file with a message that names the file and the fault.

Every bad file here is the real `workflows/cspr.yaml` with one thing broken, so a refusal can
only come from that one fault.
"""

from __future__ import annotations

import ast
import copy
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from cspr_engine import cli
from cspr_engine.config import PROJECT_ROOT, get_settings
from cspr_engine.workflow.definitions import (
    WorkflowFileError,
    _UniqueKeyLoader,
    load_definitions,
    parse_definition,
)
from cspr_engine.workflow.service import get_definitions

REAL = PROJECT_ROOT / "workflows" / "cspr.yaml"
REAL_TEXT = REAL.read_text(encoding="utf-8")

Raw = dict[str, Any]


def real() -> Raw:
    """The real file as a plain dict (read the way the loader reads it), safe to mutate."""
    raw = yaml.load(REAL_TEXT, Loader=_UniqueKeyLoader)
    assert isinstance(raw, dict)
    return copy.deepcopy(raw)


def write(tmp_path: Path, raw: Raw, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(WorkflowFileError) as caught:
        parse_definition(path.read_text(encoding="utf-8"), path)
    message = str(caught.value)
    assert str(path) in message
    assert caught.value.path == str(path)
    return message


def broken(tmp_path: Path, mutate: Callable[[Raw], object]) -> str:
    """The refusal of the real file after `mutate`."""
    raw = real()
    mutate(raw)
    return refusal(write(tmp_path, raw))


def test_the_real_file_round_trips_through_the_helpers(tmp_path: Path) -> None:
    # The baseline every other test breaks one thing of.
    path = write(tmp_path, real())
    definition = parse_definition(path.read_text(encoding="utf-8"), path)
    assert (definition.name, definition.version) == ("cspr", 1)
    assert definition.source_path == str(path)


# -- names that point nowhere ---------------------------------------------------------------


def test_unknown_state_in_from(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["triggers"]["withdraw"]["from"].append("limbo"))
    assert "unknown state 'limbo' in trigger withdraw (from)" in message


def test_unknown_state_in_to(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["triggers"]["withdraw"].update(to="shut"))
    assert "unknown state 'shut' in trigger withdraw (to)" in message


def test_unknown_state_in_a_branch(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"]["record_panel_response"]["branches"][0]["to"] = "lcspr_somewhere"

    message = broken(tmp_path, mutate)
    assert "unknown state 'lcspr_somewhere' in trigger record_panel_response (to)" in message


def test_unknown_initial_state(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d.update(initial="incident"))
    assert "unknown state 'incident' as initial" in message


def test_unknown_state_in_a_gate(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["gates"]["dsp_joint_decision"].update(state="vote"))
    assert "unknown state 'vote' in gate dsp_joint_decision" in message


def test_unknown_guard(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["triggers"]["close"].update(guards=["moon_is_full"]))
    assert "unknown guard 'moon_is_full' in trigger close" in message


def test_unknown_role_in_a_trigger(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["triggers"]["withdraw"]["roles"].append("wizard"))
    assert "unknown role 'wizard' in trigger withdraw" in message


def test_unknown_agency_in_a_trigger(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["triggers"]["withdraw"]["roles"].append("dsp:mi5"))
    assert "unknown agency 'mi5' in trigger withdraw" in message


def test_unknown_trigger_in_a_clock(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["clocks"]["panel_notification"]["stop"][0]["trigger"] = "tell_panel"

    message = broken(tmp_path, mutate)
    assert "clock panel_notification refers to unknown trigger 'tell_panel'" in message


def test_unknown_trigger_in_a_clock_cancel_on(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["clocks"]["lcspr_quality_check"]["cancel_on"] = ["receive_draft_report"]

    message = broken(tmp_path, mutate)
    assert "clock lcspr_quality_check refers to unknown trigger 'receive_draft_report'" in message


def test_unknown_field_in_a_clock(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["clocks"]["panel_notification"]["stop"][0]["date"] = "notified_at"

    message = broken(tmp_path, mutate)
    assert "clock panel_notification: trigger notify_panel has no field 'notified_at'" in message


# -- the shape of the graph -----------------------------------------------------------------


def test_unreachable_state(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["states"]["orphan"] = {"label": "Nobody comes here"}
        d["triggers"]["leave_orphan"] = {
            "label": "Leave",
            "from": ["orphan"],
            "to": "closed",
            "roles": ["panel_chair"],
        }

    message = broken(tmp_path, mutate)
    assert "unreachable state 'orphan'" in message


def test_dead_end_without_a_trigger_out(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["states"]["limbo"] = {"label": "Limbo"}
        d["triggers"]["enter_limbo"] = {
            "label": "Enter limbo",
            "from": ["referred"],
            "to": "limbo",
            "roles": ["panel_chair"],
        }

    message = broken(tmp_path, mutate)
    assert "dead end: state 'limbo' is not final and has no trigger out" in message


def test_dead_end_from_which_no_final_state_can_be_reached(tmp_path: Path) -> None:
    # Two states that only lead to each other: each has a way out, neither leads to the end.
    def mutate(d: Raw) -> None:
        d["states"]["loop_a"] = {"label": "Loop A"}
        d["states"]["loop_b"] = {"label": "Loop B"}
        for name, source, dest in (
            ("enter_loop", "referred", "loop_a"),
            ("a_to_b", "loop_a", "loop_b"),
            ("b_to_a", "loop_b", "loop_a"),
        ):
            d["triggers"][name] = {
                "label": name,
                "from": [source],
                "to": dest,
                "roles": ["panel_chair"],
            }

    message = broken(tmp_path, mutate)
    assert "dead end: no final state can be reached from 'loop_a'" in message


def test_final_state_with_outgoing_triggers(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["triggers"]["withdraw"]["from"].append("closed"))
    assert "final state 'closed' has outgoing triggers" in message


def test_no_final_state(tmp_path: Path) -> None:
    # Every state has a way out (the would-be final state reopens the case), none ends it.
    def mutate(d: Raw) -> None:
        for state in d["states"].values():
            state.pop("final", None)
        d["triggers"]["reopen"] = {
            "label": "Reopen",
            "from": ["closed"],
            "to": "referred",
            "roles": ["panel_chair"],
        }

    message = broken(tmp_path, mutate)
    assert "no final state" in message


# -- things said twice ----------------------------------------------------------------------


def insert_after(text: str, anchor: str, addition: str) -> str:
    assert text.count(anchor) == 1, anchor
    return text.replace(anchor, anchor + addition)


def test_duplicate_trigger(tmp_path: Path) -> None:
    # PyYAML on its own keeps the last of two equal keys and says nothing.
    text = insert_after(
        REAL_TEXT,
        "\ntriggers:\n",
        "  withdraw:\n    label: Withdraw\n    from: [referred]\n    to: closed\n"
        "    roles: [panel_chair]\n\n",
    )
    assert "withdraw" in yaml.safe_load(text)["triggers"]  # silently accepted by plain PyYAML
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    message = refusal(path)
    assert "duplicate 'withdraw'" in message
    assert "declared twice" in message


def test_duplicate_state(tmp_path: Path) -> None:
    text = insert_after(REAL_TEXT, "\nstates:\n", "  closed:\n    label: Closed early\n")
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    message = refusal(path)
    assert "duplicate 'closed'" in message


def test_duplicate_field(tmp_path: Path) -> None:
    anchor = "      reason: {type: text, required: true, label: Reason}\n"
    text = insert_after(REAL_TEXT, anchor, anchor)
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    assert "duplicate 'reason'" in refusal(path)


def test_two_files_with_the_same_name_and_version(tmp_path: Path) -> None:
    raw = real()
    raw["name"] = "duplicated"  # not cspr: a successful load registers its data models
    first = write(tmp_path, raw, "a.yaml")
    second = write(tmp_path, raw, "b.yaml")
    with pytest.raises(WorkflowFileError) as caught:
        load_definitions(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{second}: ")
    assert f"workflow duplicated v1 is already defined in {first}" in message


def test_same_name_in_another_version_is_fine(tmp_path: Path) -> None:
    raw = real()
    raw["name"] = "versioned"
    write(tmp_path, raw, "a.yaml")
    raw["version"] = 2
    write(tmp_path, raw, "b.yaml")
    assert sorted(load_definitions(tmp_path)) == [("versioned", 1), ("versioned", 2)]


# -- fields and branches --------------------------------------------------------------------


def test_unknown_field_type(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"]["notify_panel"]["fields"]["notified_on"]["type"] = "datetime"

    message = broken(tmp_path, mutate)
    assert "triggers.notify_panel.fields.notified_on.type" in message
    assert "Input should be 'date'" in message


def test_enum_without_values(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"]["decide_not_notifiable"]["fields"]["alternative_learning"].pop("values")

    message = broken(tmp_path, mutate)
    assert "triggers.decide_not_notifiable.fields.alternative_learning" in message
    assert "a field of type enum needs `values`" in message


def test_branch_on_a_field_that_is_not_an_enum(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        for branch in d["triggers"]["record_panel_response"]["branches"]:
            branch["when"] = {"received_on": branch["when"]["outcome"]}

    message = broken(tmp_path, mutate)
    assert (
        "trigger record_panel_response branches on 'received_on', not a required enum field"
        in message
    )


def test_branch_on_a_value_the_enum_does_not_have(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"]["record_panel_response"]["branches"][0]["when"] = {"outcome": "agreed"}

    message = broken(tmp_path, mutate)
    assert "branches on outcome='agreed', not one of its values" in message


def test_uncovered_branch_value(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"]["record_panel_response"]["branches"].pop()  # further_information_requested

    message = broken(tmp_path, mutate)
    assert (
        "trigger record_panel_response has no branch for outcome in "
        "['further_information_requested']" in message
    )


def test_yaml_1_1_booleans_stay_words(tmp_path: Path) -> None:
    # Under YAML 1.1 `on:` would be the key True and `yes`/`no`/`off` would be booleans.
    trigger = (
        "  answer:\n"
        "    label: Answer a yes/no question\n"
        "    from: [referred]\n"
        "    roles: [panel_chair]\n"
        "    fields:\n"
        "      on: {type: date}\n"
        "      reply: {type: enum, required: true, values: [yes, no, off]}\n"
        "    branches:\n"
        "      - {when: {reply: yes}, to: rapid_review}\n"
        "      - {when: {reply: no}, to: closed}\n"
        "      - {when: {reply: off}, to: rapid_review}\n"
    )
    text = insert_after(REAL_TEXT, "\ntriggers:\n", trigger)
    text = text.replace("name: cspr\n", "name: yaml_words\n", 1)
    assert yaml.safe_load(text)["triggers"]["answer"]["fields"].get(True) is not None
    path = tmp_path / "words.yaml"
    path.write_text(text, encoding="utf-8")

    definition = parse_definition(text, path)
    answer = definition.triggers["answer"]
    assert list(answer.fields) == ["on", "reply"]
    assert answer.fields["reply"].values == ("yes", "no", "off")
    assert [b.when for b in answer.branches] == [
        {"reply": "yes"},
        {"reply": "no"},
        {"reply": "off"},
    ]
    model = definition.data_model("answer")
    assert model.model_validate({"reply": "yes"}).model_dump()["reply"] == "yes"
    with pytest.raises(ValueError, match="reply"):
        model.model_validate({"reply": True})


def test_true_and_false_are_still_booleans() -> None:
    definition = parse_definition(REAL_TEXT, REAL)
    assert definition.states["closed"].final is True
    assert definition.triggers["notify_panel"].fields["notified_on"].required is True


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    assert "the file must be a mapping" in refusal(path)


# -- the directory, the command line and the app --------------------------------------------


def test_load_definitions_on_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "calendars").mkdir()
    (tmp_path / "notes.yml").write_text("name: not picked up\n", encoding="utf-8")
    with pytest.raises(WorkflowFileError) as caught:
        load_definitions(tmp_path)
    assert str(caught.value) == f"{tmp_path}: no workflow files (*.yaml) found"


def test_load_definitions_on_the_real_directory() -> None:
    found = load_definitions(PROJECT_ROOT / "workflows")
    assert ("cspr", 1) in found
    assert found[("cspr", 1)].source_path == str(REAL)


@contextmanager
def workflows_dir(path: Path) -> Iterator[None]:
    """Settings (and the loaded definitions) as if CSPR_WORKFLOWS_DIR were `path`."""
    saved = os.environ.get("CSPR_WORKFLOWS_DIR")
    os.environ["CSPR_WORKFLOWS_DIR"] = str(path)
    get_settings.cache_clear()
    get_definitions.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CSPR_WORKFLOWS_DIR", None)
        else:
            os.environ["CSPR_WORKFLOWS_DIR"] = saved
        get_settings.cache_clear()
        get_definitions.cache_clear()


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    raw = real()
    raw["triggers"]["close"]["guards"] = ["moon_is_full"]
    write(tmp_path, raw, "cspr.yaml")
    return tmp_path


def test_check_workflows_refuses_a_bad_directory(
    bad_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with workflows_dir(bad_dir):
        assert get_settings().workflows_dir == bad_dir
        status = cli.main(["check-workflows"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert f"invalid workflow: {bad_dir / 'cspr.yaml'}: " in err
    assert "unknown guard 'moon_is_full' in trigger close" in err
    assert get_settings().workflows_dir == PROJECT_ROOT / "workflows"  # restored


def test_check_workflows_on_an_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with workflows_dir(tmp_path):
        status = cli.main(["check-workflows"])
    assert status == 1
    assert "no workflow files" in capsys.readouterr().err


def test_check_workflows_accepts_the_real_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert get_settings().workflows_dir == PROJECT_ROOT / "workflows"
    status = cli.main(["check-workflows"])
    out, err = capsys.readouterr()
    assert status == 0
    assert err == ""
    # One line per workflow file, each with its own counts.
    definitions = load_definitions(PROJECT_ROOT / "workflows")
    lines = out.splitlines()
    assert len(lines) == len(definitions) >= 2
    for (name, version), d in definitions.items():
        expected = f"{name} v{version}: {len(d.states)} states, {len(d.triggers)} triggers"
        assert [line for line in lines if line.startswith(expected)], (name, out)


def test_the_app_refuses_to_start_with_a_bad_workflow_file(bad_dir: Path) -> None:
    from cspr_engine.main import create_app

    with workflows_dir(bad_dir), pytest.raises(WorkflowFileError) as caught:
        create_app()
    assert str(bad_dir / "cspr.yaml") in str(caught.value)
    assert "unknown guard 'moon_is_full'" in str(caught.value)
    # Restored: the real definitions load again and the app starts.
    assert ("cspr", 1) in get_definitions()
    assert create_app() is not None


def test_a_date_held_against_an_unknown_case_attribute(tmp_path: Path) -> None:
    def mutate(raw: Raw) -> None:
        raw["triggers"]["notify_panel"]["fields"]["notified_on"]["not_before"] = "case.born_on"

    message = broken(tmp_path, mutate)
    assert "unknown case date 'case.born_on'" in message


def test_yes_is_not_a_boolean_setting(tmp_path: Path) -> None:
    # `required: yes` would be a YAML 1.1 boolean elsewhere; here only true/false are.
    def mutate(raw: Raw) -> None:
        raw["triggers"]["notify_panel"]["fields"]["notified_on"]["required"] = "yes"

    message = broken(tmp_path, mutate)
    assert "triggers.notify_panel.fields.notified_on.required" in message
    assert "boolean" in message


# -- `create.requires` and `opens` (the child death review file opens a cspr case) -----------

CDR_PATH = PROJECT_ROOT / "workflows" / "child_death_review.yaml"
REFER = "refer_for_safeguarding_review"


def real_cdr() -> Raw:
    raw = yaml.load(CDR_PATH.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    assert isinstance(raw, dict)
    return copy.deepcopy(raw)


def broken_cdr(tmp_path: Path, mutate: Callable[[Raw], object]) -> str:
    raw = real_cdr()
    mutate(raw)
    return refusal(write(tmp_path, raw))


def directory_refusal(tmp_path: Path, cdr: Raw, cspr: Raw | None = None) -> str:
    """The refusal of a directory holding both files: what only the pair can show."""
    cdr_path = write(tmp_path, cdr, "child_death_review.yaml")
    write(tmp_path, real() if cspr is None else cspr, "cspr.yaml")
    with pytest.raises(WorkflowFileError) as caught:
        load_definitions(tmp_path)
    assert caught.value.path == str(cdr_path)
    return str(caught.value)


def test_both_real_files_load_together_and_each_requires_what_it_takes(tmp_path: Path) -> None:
    write(tmp_path, real_cdr(), "child_death_review.yaml")
    write(tmp_path, real(), "cspr.yaml")
    found = load_definitions(tmp_path)
    cspr, cdr = found[("cspr", 1)], found[("child_death_review", 1)]
    assert cspr.create.requires == {"incident.abuse_or_neglect": ("known", "suspected")}
    assert cdr.create.requires == {"incident.outcome": ("death",)}
    opens = cdr.triggers[REFER].opens
    assert opens is not None
    assert (opens.workflow, opens.link, opens.referring_agency) == (
        "cspr",
        "child_death_review",
        "child_death_review",
    )
    # It stays in whichever state it is fired from, and it may be fired from several.
    assert cdr.triggers[REFER].to is None
    assert len(cdr.triggers[REFER].source) > 1


def test_requires_an_unknown_field(tmp_path: Path) -> None:
    message = broken(tmp_path, lambda d: d["create"]["requires"].update({"child.sex": ["male"]}))
    assert "create requires unknown field 'child.sex'" in message


def test_requires_a_value_the_field_does_not_have(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["create"]["requires"]["incident.abuse_or_neglect"] = ["known", "rumoured"]

    message = broken(tmp_path, mutate)
    assert "create requires incident.abuse_or_neglect in ['rumoured']" in message


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"link": "cousin"}, "opens a case linked as 'cousin'"),
        ({"link": "other_partnership"}, "opens a case linked as 'other_partnership'"),
        ({"referring_agency": "oracle"}, "opens a case referred by unknown agency 'oracle'"),
    ],
)
def test_opens_with_a_link_or_agency_that_does_not_exist(
    tmp_path: Path, change: dict[str, str], fault: str
) -> None:
    message = broken_cdr(tmp_path, lambda d: d["triggers"][REFER]["opens"].update(change))
    assert f"trigger {REFER} {fault}" in message


@pytest.mark.parametrize(
    ("target", "source", "fault"),
    [
        ("child.sex", "concerns", "unknown field 'child.sex'"),
        ("summary", "no_such_field", "summary from unknown field 'no_such_field'"),
        ("became_aware_on", "concerns", "became_aware_on from concerns, a text field"),
        ("incident.abuse_or_neglect", "categories", "a list field (needs enum)"),
    ],
)
def test_opens_a_field_from_the_wrong_place(
    tmp_path: Path, target: str, source: str, fault: str
) -> None:
    message = broken_cdr(
        tmp_path, lambda d: d["triggers"][REFER]["opens"]["fields"].update({target: source})
    )
    assert fault in message


def test_opens_without_the_date_the_new_cases_clocks_count_from(tmp_path: Path) -> None:
    message = broken_cdr(
        tmp_path, lambda d: d["triggers"][REFER]["opens"]["fields"].pop("became_aware_on")
    )
    assert "without fields.became_aware_on" in message


def test_opens_a_coded_field_with_values_it_does_not_take(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"][REFER]["fields"]["categories"]["values"].append("misfortune")

    message = broken_cdr(tmp_path, mutate)
    assert "categories has values ['misfortune'] that incident.categories does not take" in message


def test_a_trigger_that_opens_a_case_cannot_declare_where_it_records_it(tmp_path: Path) -> None:
    def mutate(d: Raw) -> None:
        d["triggers"][REFER]["fields"]["opened_case"] = {"type": "string"}

    assert "declares 'opened_case'" in broken_cdr(tmp_path, mutate)


def test_opens_a_workflow_the_directory_does_not_have(tmp_path: Path) -> None:
    raw = real_cdr()
    raw["triggers"][REFER]["opens"]["workflow"] = "lcspr"
    assert f"trigger {REFER} opens unknown workflow 'lcspr'" in directory_refusal(tmp_path, raw)


def test_opens_a_case_its_workflow_would_refuse(tmp_path: Path) -> None:
    # A value the trigger may send that the cspr file does not take (not_suspected).
    raw = real_cdr()
    raw["triggers"][REFER]["fields"]["abuse_or_neglect"]["values"].append("not_suspected")
    message = directory_refusal(tmp_path, raw)
    assert "cspr requires incident.abuse_or_neglect in ['known', 'suspected']" in message
    # Optional: left empty, the copied value (not_suspected for a death) would be refused.
    raw = real_cdr()
    raw["triggers"][REFER]["fields"]["abuse_or_neglect"]["required"] = False
    assert "abuse_or_neglect must be required" in directory_refusal(tmp_path, raw)


def test_opens_without_mapping_what_the_other_workflow_requires(tmp_path: Path) -> None:
    raw = real_cdr()
    raw["triggers"][REFER]["opens"]["fields"].pop("incident.abuse_or_neglect")
    message = directory_refusal(tmp_path, raw)
    assert "a value copied from a child_death_review case may not be one" in message


def test_what_the_opened_workflow_requires_is_checked_against_its_latest_version(
    tmp_path: Path,
) -> None:
    # A newer cspr that also requires a serious harm: a death the trigger copies would fail it.
    newer = real()
    newer["version"] = 2
    newer["create"]["requires"]["incident.outcome"] = ["serious_harm"]
    write(tmp_path, real(), "cspr.yaml")
    message = directory_refusal(tmp_path, real_cdr(), newer)
    assert "cspr requires incident.outcome in ['serious_harm']" in message


# -- no Python names the child death review workflow ----------------------------------------

SRC = PROJECT_ROOT / "src" / "cspr_engine"
# The workflow's name is also a link type and a referring agency: the declarations of those
# vocabularies (and their labels) may spell it, nothing else.
VOCABULARIES = frozenset(
    {"ReferringAgency", "LinkType", "LINK_TYPES", "LINK_TYPE_LABELS", "LINK_TYPE_HINTS"}
)


def _vocabulary_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id in VOCABULARIES for t in targets):
            inside |= {id(n) for n in ast.walk(node)}
    return inside


def test_no_python_names_the_child_death_review_workflow_or_its_own_parts() -> None:
    cdr = parse_definition(CDR_PATH.read_text(encoding="utf-8"), CDR_PATH)
    cspr = parse_definition(REAL_TEXT, REAL)

    def parts(d: Any) -> set[str]:
        return set(d.states) | set(d.triggers) | set(d.clocks) | set(d.gates)

    own = parts(cdr) - parts(cspr)
    assert {"joint_agency_response", REFER, "cdop_notification", "cdop_sign_off"} <= own
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 100
    word = re.compile(r"\b(" + "|".join(map(re.escape, sorted(own))) + r")\b")
    # Comments and docstrings count too: the words are the workflow file's alone.
    named = [(str(p), m.group(1)) for p in files for m in word.finditer(p.read_text("utf-8"))]
    assert named == []
    spelled = []
    for p in files:
        tree = ast.parse(p.read_text("utf-8"))
        allowed = _vocabulary_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if cdr.name in node.value and id(node) not in allowed:
                    spelled.append((str(p), node.lineno))
            elif isinstance(node, ast.Name | ast.FunctionDef | ast.ClassDef | ast.arg):
                ident = getattr(node, "id", None) or getattr(node, "name", None) or node.arg
                if cdr.name in str(ident):
                    spelled.append((str(p), node.lineno))
            elif isinstance(node, ast.Attribute) and cdr.name in node.attr:
                spelled.append((str(p), node.lineno))
    assert spelled == []
