"""web/forms.py: a GOV.UK date input read back as an ISO date, posted values as API data, a
workflow trigger's fields as form fields, and the API's errors as sentences beside a field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from cspr_engine.errors import FieldError
from cspr_engine.web import forms
from cspr_engine.web.casepages import referral_form
from cspr_engine.web.forms import Field, Form, friendly, parse_date, read, trigger_form, unflatten
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import FieldDef


def date_parts(day: str = "", month: str = "", year: str = "") -> dict[str, str]:
    return {"day": day, "month": month, "year": year}


def posted(**values: str | list[str]) -> FormData:
    """A browser's post: `a_b=["x", "y"]` sends `a_b` twice (tick boxes)."""
    items: list[tuple[str, str]] = []
    for name, value in values.items():
        for v in value if isinstance(value, list) else [value]:
            items.append((name, v))
    return FormData(items)


def date_post(name: str, day: str, month: str, year: str) -> dict[str, str]:
    return {f"{name}-day": day, f"{name}-month": month, f"{name}-year": year}


def field_def(**spec: Any) -> FieldDef:
    return FieldDef.model_validate(spec)


def a_form(*fields: Field) -> Form:
    return Form(list(fields))


DATE = Field("notified_on", "notify-notified-on", "Date notified", "date", required=True)
TEXT = Field("rationale", "vote-rationale", "Rationale", "textarea", required=True)
RADIOS = Field(
    "decision", "vote-decision", "Your decision", "radios", options=(("agree", "Agree"),)
)
BOXES = Field("criteria", "crr-criteria", "Criteria", "checkboxes", options=(("a", "A"),))
NUMBER = Field("child.age_years", "child-age-years", "Age", "number", noun="the child's age")


class TestParseDate:
    def test_a_real_date_is_the_iso_date(self) -> None:
        assert parse_date(date_parts("17", "6", "2026"), "Date") == ("2026-06-17", None)

    def test_leading_zeros_are_read(self) -> None:
        assert parse_date(date_parts("01", "02", "2026"), "Date") == ("2026-02-01", None)

    def test_all_three_parts_empty_is_no_date_and_no_error(self) -> None:
        assert parse_date(date_parts(), "Date") == (None, None)

    def test_missing_parts_are_absent_keys_too(self) -> None:
        assert parse_date({}, "Date") == (None, None)

    @pytest.mark.parametrize("year", ["2024", "2028", "2000", "2400"])
    def test_29_february_in_a_leap_year_is_a_date(self, year: str) -> None:
        assert parse_date(date_parts("29", "2", year), "Date") == (f"{year}-02-29", None)

    @pytest.mark.parametrize("year", ["2025", "2026", "2027", "2100", "1900"])
    def test_29_february_in_another_year_is_not_a_real_date(self, year: str) -> None:
        assert parse_date(date_parts("29", "2", year), "Date notified") == (
            None,
            "Date notified must be a real date",
        )

    @pytest.mark.parametrize(
        ("parts", "message"),
        [
            (date_parts("", "6", "2026"), "Date must include a day"),
            (date_parts("17", "", "2026"), "Date must include a month"),
            (date_parts("17", "6", ""), "Date must include a year"),
            (date_parts("", "", "2026"), "Date must include a day and a month"),
            (date_parts("", "6", ""), "Date must include a day and a year"),
            (date_parts("17", "", ""), "Date must include a month and a year"),
        ],
    )
    def test_a_missing_part_is_named(self, parts: dict[str, str], message: str) -> None:
        assert parse_date(parts, "Date") == (None, message)

    @pytest.mark.parametrize(
        "parts",
        [
            date_parts("x", "6", "2026"),
            date_parts("17", "June", "2026"),
            date_parts("17", "6", "20x6"),
            date_parts("-1", "6", "2026"),
            date_parts("1.5", "6", "2026"),
            date_parts("1 7", "6", "2026"),
            date_parts("+17", "6", "2026"),
            date_parts("1_7", "6", "2026"),
        ],
    )
    def test_anything_but_digits_is_not_a_real_date(self, parts: dict[str, str]) -> None:
        assert parse_date(parts, "Date") == (None, "Date must be a real date")

    @pytest.mark.parametrize(
        "parts",
        [
            # str.isdigit() is true for these, but int() refuses the first and reads the
            # others as other digits: neither may crash the page or be taken as a date.
            date_parts("\N{SUPERSCRIPT TWO}", "6", "2026"),
            date_parts("17", "\N{ARABIC-INDIC DIGIT SIX}", "2026"),
            date_parts("17", "6", "\N{FULLWIDTH DIGIT TWO}026"),
        ],
    )
    def test_digits_other_than_0_to_9_are_not_a_real_date(self, parts: dict[str, str]) -> None:
        assert parse_date(parts, "Date") == (None, "Date must be a real date")

    @pytest.mark.parametrize("year", ["26", "6", "026", "20266"])
    def test_a_year_without_4_numbers_is_refused(self, year: str) -> None:
        assert parse_date(date_parts("17", "6", year), "Date") == (
            None,
            "Date: the year must include 4 numbers",
        )

    @pytest.mark.parametrize(
        "parts",
        [
            date_parts("0", "6", "2026"),
            date_parts("32", "1", "2026"),
            date_parts("31", "4", "2026"),
            date_parts("17", "0", "2026"),
            date_parts("17", "13", "2026"),
            date_parts("17", "6", "1899"),
            date_parts("17", "6", "0000"),
        ],
    )
    def test_a_day_month_or_year_out_of_range_is_not_a_real_date(
        self, parts: dict[str, str]
    ) -> None:
        assert parse_date(parts, "Date") == (None, "Date must be a real date")

    def test_very_long_numbers_are_refused_without_a_crash(self) -> None:
        assert parse_date(date_parts("9" * 5000, "6", "2026"), "Date") == (
            None,
            "Date must be a real date",
        )


class TestRead:
    def test_posted_values_become_api_data_and_empty_fields_are_left_out(self) -> None:
        form = a_form(DATE, TEXT, RADIOS, BOXES, NUMBER)
        data = read(
            form,
            posted(
                **date_post("notified_on", "12", "6", "2026"),
                rationale="Criteria met.",
                decision="agree",
                criteria=["a", "d"],
                **{"child.age_years": " 7 "},
            ),
        )
        assert data == {
            "notified_on": "2026-06-12",
            "rationale": "Criteria met.",
            "decision": "agree",
            "criteria": ["a", "d"],
            "child.age_years": 7,
        }
        assert form.errors == []

    def test_nothing_posted_is_no_data_and_no_error(self) -> None:
        form = a_form(DATE, TEXT, RADIOS, BOXES, NUMBER)
        assert read(form, posted()) == {}
        assert form.errors == []

    def test_blank_text_is_left_out_but_other_text_is_kept_as_typed(self) -> None:
        # The API strips and checks text: the form only decides whether anything was typed.
        form = a_form(TEXT)
        assert read(form, posted(rationale="   ")) == {}
        assert read(a_form(TEXT), posted(rationale="  two\nlines ")) == {
            "rationale": "  two\nlines "
        }

    def test_the_date_parts_are_trimmed(self) -> None:
        form = a_form(DATE)
        assert read(form, posted(**date_post("notified_on", " 1 ", " 2 ", " 2026 "))) == {
            "notified_on": "2026-02-01"
        }

    def test_a_date_that_is_no_date_is_an_error_on_its_field_linked_to_the_day_input(
        self,
    ) -> None:
        form = a_form(DATE, TEXT)
        data = read(form, posted(**date_post("notified_on", "30", "2", "2026"), rationale="x"))
        assert data == {"rationale": "x"}
        assert form.errors == [("notify-notified-on-day", "Date notified must be a real date")]
        shown = form.by_name()["notified_on"]
        assert shown.error == "Date notified must be a real date"
        # What was typed is shown back, so it can be corrected.
        assert shown.value == {"day": "30", "month": "2", "year": "2026"}

    def test_a_date_error_uses_the_fields_noun(self) -> None:
        form = referral_form()
        read(form, posted(**date_post("became_aware_on", "", "6", "2026")))
        assert (
            "became-aware-on-day",
            "The date the local authority became aware must include a day",
        ) in form.errors

    def test_a_number_that_is_not_whole_is_an_error(self) -> None:
        form = a_form(NUMBER)
        assert read(form, posted(**{"child.age_years": "2.5"})) == {}
        assert form.errors == [("child-age-years", "The child's age must be a whole number")]

    def test_a_non_ascii_superscript_number_is_an_error_not_a_crash(self) -> None:
        form = a_form(NUMBER)
        assert read(form, posted(**{"child.age_years": "\N{SUPERSCRIPT TWO}"})) == {}
        assert form.errors == [("child-age-years", "The child's age must be a whole number")]

    def test_an_uploaded_file_in_a_text_field_is_read_as_empty(self) -> None:
        from io import BytesIO

        from starlette.datastructures import UploadFile

        form = a_form(TEXT)
        upload = UploadFile(BytesIO(b"x"), filename="x.txt")
        assert read(form, FormData([("rationale", upload)])) == {}

    def test_checkboxes_keep_every_ticked_value_in_order(self) -> None:
        form = a_form(BOXES)
        assert read(form, posted(criteria=["d", "a", "b"])) == {"criteria": ["d", "a", "b"]}
        assert form.by_name()["criteria"].value == ["d", "a", "b"]

    def test_the_referral_form_reads_into_the_api_shape(self) -> None:
        form = referral_form()
        data = read(
            form,
            posted(
                **date_post("became_aware_on", "10", "6", "2026"),
                referring_agency="police",
                partner_reference="POL-1",
                **{
                    "incident.outcome": "death",
                    "incident.abuse_or_neglect": "known",
                    "incident.categories": ["neglect", "physical_abuse"],
                    "child.age_years": "3",
                    "child.legal_status": "",
                },
            ),
        )
        assert unflatten(data) == {
            "became_aware_on": "2026-06-10",
            "referring_agency": "police",
            "partner_reference": "POL-1",
            "incident": {
                "outcome": "death",
                "abuse_or_neglect": "known",
                "categories": ["neglect", "physical_abuse"],
            },
            "child": {"age_years": 3},
        }


class TestFormErrors:
    def test_an_error_is_beside_its_field_and_in_the_summary(self) -> None:
        form = a_form(DATE, TEXT)
        form.add_error("rationale", "Enter rationale")
        assert form.errors == [("vote-rationale", "Enter rationale")]
        assert form.by_name()["rationale"].error == "Enter rationale"
        assert form.by_name()["notified_on"].error is None

    def test_only_the_first_error_of_a_field_is_shown_beside_it(self) -> None:
        form = a_form(TEXT)
        form.add_error("rationale", "first")
        form.add_error("rationale", "second")
        assert form.by_name()["rationale"].error == "first"
        assert form.errors == [("vote-rationale", "first"), ("vote-rationale", "second")]

    def test_an_error_about_no_field_links_to_the_first_field(self) -> None:
        form = a_form(DATE, TEXT)
        form.add_error(None, "Something else")
        form.add_error("not_a_field", "Another thing")
        assert form.errors == [
            ("notify-notified-on-day", "Something else"),
            ("notify-notified-on-day", "Another thing"),
        ]
        assert all(f.error is None for f in form.fields)

    def test_an_error_on_an_empty_form_links_to_the_main_content(self) -> None:
        form = Form([])
        form.add_error(None, "There is no decision to record here.")
        assert form.errors == [("main-content", "There is no decision to record here.")]

    def test_api_errors_are_matched_to_fields_by_their_location(self) -> None:
        form = trigger_form("complete_rapid_review", _trigger_fields("complete_rapid_review"))
        form.add_api_errors(
            [
                FieldError(loc="data.criteria.0", message="Input should be 'a'", type="x"),
                FieldError(loc="data.completed_on", message="is required", type="missing"),
                FieldError(loc="data", message="Something about the whole", type="value_error"),
            ],
            strip="data.",
        )
        shown = form.by_name()
        assert shown["criteria"].error == "Regulation 11 criteria relied on: input should be 'a'"
        assert shown["completed_on"].error == "Enter date completed"
        assert form.errors[-1] == (
            "complete-rapid-review-completed-on-day",
            "Something about the whole",
        )

    def test_a_nested_api_location_finds_the_dotted_field(self) -> None:
        form = referral_form()
        form.add_api_errors(
            [FieldError(loc="incident.outcome", message="Field required", type="missing")]
        )
        assert form.by_name()["incident.outcome"].error == "Select what happened to the child"
        assert form.errors == [("incident-outcome", "Select what happened to the child")]


def _trigger_fields(trigger: str) -> dict[str, FieldDef]:
    definition = workflow_service.latest("cspr")
    return dict(definition.triggers[trigger].fields)


class TestTriggerForm:
    @pytest.mark.parametrize(
        ("spec", "kind"),
        [
            ({"type": "date"}, "date"),
            ({"type": "string"}, "input"),
            ({"type": "text"}, "textarea"),
            ({"type": "url"}, "url"),
            ({"type": "enum", "values": ["a", "b"]}, "radios"),
            ({"type": "enum", "values": [str(i) for i in range(7)]}, "radios"),
            ({"type": "enum", "values": [str(i) for i in range(8)]}, "select"),
            ({"type": "list", "values": ["a", "b"]}, "checkboxes"),
            ({"type": "boolean"}, "radios"),
            ({"type": "integer"}, "number"),
        ],
    )
    def test_each_field_type_has_its_kind_of_input(self, spec: dict[str, Any], kind: str) -> None:
        form = trigger_form("t", {"x": field_def(**spec)})
        assert form.fields[0].kind == kind

    def test_every_field_type_the_workflow_language_knows_is_covered(self) -> None:
        from typing import get_args

        from cspr_engine.workflow.definitions import FieldType

        covered = {"date", "string", "text", "url", "enum", "list", "boolean", "integer"}
        assert set(get_args(FieldType)) == covered

    def test_an_integer_field_posts_a_number(self) -> None:
        fields = {"count": field_def(type="integer")}
        form = trigger_form("t", fields)
        assert forms.trigger_data(form, posted(count="12"), fields) == {"count": 12}

    def test_ids_are_unique_per_trigger_and_use_hyphens(self) -> None:
        fields = {"notified_on": field_def(type="date"), "a.b_c": field_def(type="string")}
        form = trigger_form("notify_panel", fields)
        assert [f.id for f in form.fields] == ["notify-panel-notified-on", "notify-panel-a-b-c"]
        assert [f.name for f in form.fields] == ["notified_on", "a.b_c"]
        assert form.fields[0].anchor == "notify-panel-notified-on-day"
        assert form.fields[1].anchor == "notify-panel-a-b-c"

    def test_the_label_is_the_workflows_or_the_name_in_words(self) -> None:
        form = trigger_form(
            "t",
            {
                "panel_reference": field_def(type="string"),
                "x": field_def(type="string", label="Notification reference"),
            },
        )
        assert [f.label for f in form.fields] == ["Panel reference", "Notification reference"]

    def test_required_and_max_length_come_from_the_definition(self) -> None:
        form = trigger_form("t", {"r": field_def(type="string", required=True, max_length=100)})
        assert form.fields[0].required is True
        assert form.fields[0].max_length == 100

    def test_the_options_are_the_values_in_words(self) -> None:
        form = trigger_form(
            "t", {"o": field_def(type="enum", values=["lcspr", "no_lcspr", "agrees_lcspr"])}
        )
        assert form.fields[0].options == (
            ("lcspr", "LCSPR"),
            ("no_lcspr", "No LCSPR"),
            ("agrees_lcspr", "Agrees lcspr"),
        )

    def test_a_boolean_is_yes_or_no(self) -> None:
        form = trigger_form("t", {"b": field_def(type="boolean")})
        assert form.fields[0].options == (("true", "Yes"), ("false", "No"))

    @pytest.mark.parametrize(
        ("spec", "hint"),
        [
            ({"type": "date"}, "For example, 27 3 2026"),
            (
                {"type": "date", "past_or_today": True},
                "For example, 27 3 2026. It cannot be in the future.",
            ),
            ({"type": "url"}, "A full address, starting https://"),
            ({"type": "string"}, None),
            (
                {"type": "text", "required_when": {"recommendation": "lcspr"}},
                "Required when recommendation is LCSPR.",
            ),
            (
                {"type": "list", "values": ["a"], "min_items_when": {"recommendation": "lcspr"}},
                "Select at least one when recommendation is LCSPR.",
            ),
        ],
    )
    def test_hints_say_what_the_definition_asks(self, spec: dict[str, Any], hint: str) -> None:
        assert trigger_form("t", {"x": field_def(**spec)}).fields[0].hint == hint

    def test_every_trigger_of_the_cspr_workflow_has_a_form(self) -> None:
        definition = workflow_service.latest("cspr")
        for name, trigger in definition.triggers.items():
            form = trigger_form(name, trigger.fields)
            assert [f.name for f in form.fields] == list(trigger.fields)
            ids = [f.id for f in form.fields]
            assert len(set(ids)) == len(ids), name

    def test_the_workflows_fields_get_the_expected_kinds(self) -> None:
        kinds = {
            f.name: f.kind
            for f in trigger_form(
                "complete_rapid_review", _trigger_fields("complete_rapid_review")
            ).fields
        }
        assert kinds == {
            "completed_on": "date",
            "recommendation": "radios",
            "criteria": "checkboxes",
            "rationale": "textarea",
            "immediate_actions": "textarea",
            "missing_returns_reason": "textarea",
        }
        publish = {f.name: f.kind for f in trigger_form("p", _trigger_fields("publish")).fields}
        assert publish == {"published_on": "date", "url": "url"}
        withhold = {
            f.name: f.kind
            for f in trigger_form("w", _trigger_fields("withhold_publication")).fields
        }
        assert withhold == {
            "reason": "textarea",
            "improvements_only": "radios",
            "review_on": "date",
        }


class TestTriggerData:
    def test_yes_and_no_become_booleans(self) -> None:
        fields = _trigger_fields("withhold_publication")
        form = trigger_form("w", fields)
        data = forms.trigger_data(
            form, posted(reason="Criminal trial", improvements_only="false"), fields
        )
        assert data == {"reason": "Criminal trial", "improvements_only": False}
        form = trigger_form("w", fields)
        assert forms.trigger_data(form, posted(improvements_only="true"), fields) == {
            "improvements_only": True
        }

    def test_another_value_is_passed_on_for_the_api_to_refuse(self) -> None:
        fields = _trigger_fields("withhold_publication")
        form = trigger_form("w", fields)
        assert forms.trigger_data(form, posted(improvements_only="maybe"), fields) == {
            "improvements_only": "maybe"
        }


class TestFriendly:
    def test_a_missing_text_field_asks_to_enter_it(self) -> None:
        assert friendly("Field required", "missing", TEXT) == "Enter rationale"

    @pytest.mark.parametrize("fld", [RADIOS, BOXES])
    def test_a_missing_choice_asks_to_select_it(self, fld: Field) -> None:
        assert friendly("Field required", "missing", fld) == f"Select {fld.error_name}"

    def test_a_missing_select_asks_to_select_it(self) -> None:
        agency = referral_form().by_name()["referring_agency"]
        assert friendly("Field required", "missing", agency) == "Select the referring agency"

    def test_a_missing_date_asks_to_enter_it(self) -> None:
        assert friendly("is required", "missing", DATE) == "Enter date notified"

    def test_a_conditional_requirement_keeps_its_condition(self) -> None:
        assert friendly("is required when recommendation is lcspr", "missing", TEXT) == (
            "Rationale: is required when recommendation is lcspr"
        )

    def test_another_message_is_a_sentence_about_the_field(self) -> None:
        assert friendly("cannot be in the future (today is 2026-06-17)", "future_date", DATE) == (
            "Date notified: cannot be in the future (today is 2026-06-17)"
        )

    def test_the_messages_capital_is_lowered_after_the_fields_name(self) -> None:
        assert friendly("Input should be a valid URL", "url_parsing", TEXT) == (
            "Rationale: input should be a valid URL"
        )

    def test_the_noun_stands_for_a_question_label(self) -> None:
        outcome = referral_form().by_name()["incident.outcome"]
        assert outcome.label == "What happened to the child?"
        assert friendly("Field required", "missing", outcome) == (
            "Select what happened to the child"
        )
        assert friendly("Input should be 'death'", "literal_error", outcome) == (
            "What happened to the child: input should be 'death'"
        )

    def test_with_no_field_the_message_is_capitalised(self) -> None:
        assert friendly("incident.occurred_on cannot be after x", "value_error", None) == (
            "Incident.occurred_on cannot be after x"
        )

    def test_an_empty_message_does_not_crash(self) -> None:
        assert friendly("", "x", None) == ""
        assert friendly("", "x", TEXT) == "Rationale: "


class TestUnflatten:
    def test_dotted_keys_become_nested_objects(self) -> None:
        assert unflatten(
            {"incident.outcome": "death", "incident.categories": ["neglect"], "summary": "s"}
        ) == {"incident": {"outcome": "death", "categories": ["neglect"]}, "summary": "s"}

    def test_deep_keys(self) -> None:
        assert unflatten({"a.b.c": 1, "a.b.d": 2, "a.e": 3}) == {
            "a": {"b": {"c": 1, "d": 2}, "e": 3}
        }

    def test_plain_keys_stay_as_they_are(self) -> None:
        assert unflatten({"became_aware_on": "2026-06-10"}) == {"became_aware_on": "2026-06-10"}

    def test_nothing_is_nothing(self) -> None:
        assert unflatten({}) == {}

    def test_the_input_is_not_changed(self) -> None:
        data = {"child.age_years": 2}
        unflatten(data)
        assert data == {"child.age_years": 2}


class TestField:
    def test_the_error_name_is_the_noun_or_the_label_in_lower_case(self) -> None:
        assert TEXT.error_name == "rationale"
        assert NUMBER.error_name == "the child's age"
        assert Field("x", "x", "", "input").error_name == ""

    def test_a_date_is_anchored_at_its_day_input(self) -> None:
        assert DATE.anchor == "notify-notified-on-day"
        assert TEXT.anchor == "vote-rationale"
