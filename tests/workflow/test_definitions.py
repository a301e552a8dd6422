"""The loader refuses a bad workflow file with a message that names the file and the fault.

Every bad file here is the real `workflows/cspr.yaml` with one thing broken, so a refusal can
only come from that one fault.
"""

from __future__ import annotations

import copy
import os
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
    assert out.startswith("cspr v1: ")
    definition = load_definitions(PROJECT_ROOT / "workflows")[("cspr", 1)]
    assert f"{len(definition.states)} states, {len(definition.triggers)} triggers" in out


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
