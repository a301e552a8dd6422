"""HTML forms: what a page asks for, read back from what the browser posts, and the API's own
validation errors placed beside the fields they are about (the GOV.UK error summary pattern).

A form never validates on its own account beyond turning the browser's strings into the API's
types (a date typed as day, month and year; a tick box list): every rule is the API's, so a page
and a partner's case system are held to the same ones."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from starlette.datastructures import FormData

from cspr_engine.errors import FieldError
from cspr_engine.web.templating import humanise
from cspr_engine.workflow.definitions import FieldDef

Kind = Literal["date", "input", "number", "url", "textarea", "radios", "checkboxes", "select"]
# Radios read better than a select up to this many choices.
MAX_RADIOS = 7
DATE_PARTS = ("day", "month", "year")


@dataclass(frozen=True)
class Field:
    name: str  # the data key, e.g. `notified_on` or `incident.outcome`
    id: str  # unique on the page
    label: str
    kind: Kind
    required: bool = False
    hint: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    value: Any = None  # str, list[str], or {day, month, year} for a date
    error: str | None = None
    max_length: int | None = None
    width: str | None = None  # a govuk-input--width-N class suffix
    noun: str | None = None  # in error messages, when the label is a question

    @property
    def error_name(self) -> str:
        return self.noun or self.label[:1].lower() + self.label[1:]

    @property
    def anchor(self) -> str:
        """Where the error summary's link for this field goes: its first input."""
        return f"{self.id}-day" if self.kind == "date" else self.id


@dataclass
class Form:
    fields: list[Field]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (anchor, message)

    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def with_values(self, form: FormData) -> Form:
        self.fields = [replace(f, value=_raw_value(f, form)) for f in self.fields]
        return self

    def add_error(self, name: str | None, message: str) -> None:
        """Beside the field (the first error per field), and in the summary; with no field,
        in the summary alone, linked to the form's first field."""
        target = self.by_name().get(name) if name else None
        if target is None:
            anchor = self.fields[0].anchor if self.fields else "main-content"
            self.errors.append((anchor, message))
            return
        self.errors.append((target.anchor, message))
        if target.error is None:
            self.fields = [replace(f, error=message) if f is target else f for f in self.fields]

    def add_api_errors(self, errors: Iterable[FieldError], *, strip: str = "") -> None:
        known = self.by_name()
        for err in errors:
            loc = err.loc.removeprefix(strip) if strip else err.loc
            name = _match(loc, known)
            self.add_error(name, friendly(err.message, err.type, known.get(name or "")))


def _match(loc: str, known: Mapping[str, Field]) -> str | None:
    """The field an error's `loc` is about (`criteria.0` is about `criteria`)."""
    parts = loc.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def friendly(message: str, type_: str, fld: Field | None) -> str:
    """An API error message as a sentence about the field, as GOV.UK error messages read."""
    if fld is None:
        return message[:1].upper() + message[1:]
    if type_ == "missing" and not message.startswith("is required when"):
        verb = "Select" if fld.kind in ("radios", "select", "checkboxes") else "Enter"
        return f"{verb} {fld.error_name}"
    if message[:1].isupper():
        message = message[:1].lower() + message[1:]
    return f"{_sentence(fld.error_name)}: {message}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _raw_value(f: Field, form: FormData) -> Any:
    if f.kind == "date":
        return {part: str(form.get(f"{f.name}-{part}", "") or "").strip() for part in DATE_PARTS}
    if f.kind == "checkboxes":
        return [str(v) for v in form.getlist(f.name)]
    raw = form.get(f.name)
    return str(raw) if isinstance(raw, str) else ""


def read(form_spec: Form, posted: FormData) -> dict[str, Any]:
    """The posted values as API data (empty fields left out), with any value that cannot even
    be turned into its type (a date that is no date) recorded as an error on the form."""
    form_spec.with_values(posted)
    data: dict[str, Any] = {}
    for f in form_spec.fields:
        value = f.value
        if f.kind == "date":
            parsed, problem = parse_date(value, _sentence(f.error_name))
            if problem:
                form_spec.add_error(f.name, problem)
            elif parsed is not None:
                data[f.name] = parsed
        elif f.kind == "checkboxes":
            if value:
                data[f.name] = list(value)
        elif f.kind == "number":
            if value.strip():
                try:
                    data[f.name] = int(value.strip())
                except ValueError:
                    form_spec.add_error(f.name, f"{_sentence(f.error_name)} must be a whole number")
        elif value.strip():
            data[f.name] = value
    return data


def parse_date(parts: Mapping[str, str], label: str) -> tuple[str | None, str | None]:
    """(ISO date, None), (None, None) when left empty, or (None, the error message)."""
    day, month, year = (parts.get(p, "") for p in DATE_PARTS)
    if not (day or month or year):
        return None, None
    missing = [p for p, v in zip(DATE_PARTS, (day, month, year), strict=True) if not v]
    if missing:
        return None, f"{label} must include a {' and a '.join(missing)}"
    if not (_numerals(day) and _numerals(month) and _numerals(year)):
        return None, f"{label} must be a real date"
    if len(year) != 4:
        return None, f"{label}: the year must include 4 numbers"
    d, m, y = int(day), int(month), int(year)
    if not (1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]) or y < 1900:
        return None, f"{label} must be a real date"
    return f"{y:04d}-{m:02d}-{d:02d}", None


def _numerals(text: str) -> bool:
    """0 to 9 only (str.isdigit() is also true of '²', which int() refuses, and of other
    scripts' digits), and few of them (int() refuses thousands of digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 8


def unflatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """`{"incident.outcome": x}` -> `{"incident": {"outcome": x}}`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


# -- forms from a workflow trigger's fields --------------------------------------------------------


def trigger_form(prefix: str, fields: Mapping[str, FieldDef]) -> Form:
    """The form for a trigger's data, as its workflow definition describes it."""
    return Form([_from_def(prefix, name, fd) for name, fd in fields.items()])


def _from_def(prefix: str, name: str, fd: FieldDef) -> Field:
    label = fd.label or humanise(name)
    ident = f"{prefix}-{name}".replace("_", "-").replace(".", "-")
    hint = None
    if fd.past_or_today:
        hint = "For example, 27 3 2026. It cannot be in the future."
    elif fd.type == "date":
        hint = "For example, 27 3 2026"
    if fd.required_when:
        cond = " and ".join(
            f"{humanise(k).lower()} is {humanise(v)}" for k, v in fd.required_when.items()
        )
        hint = f"Required when {cond}."
    if fd.min_items_when:
        cond = " and ".join(
            f"{humanise(k).lower()} is {humanise(v)}" for k, v in fd.min_items_when.items()
        )
        hint = f"Select at least one when {cond}."
    values: Sequence[str] = fd.values or ()
    options = tuple((v, humanise(v)) for v in values)
    kind: Kind
    match fd.type:
        case "date":
            kind = "date"
        case "text":
            kind = "textarea"
        case "url":
            kind, hint = "url", "A full address, starting https://"
        case "integer":
            kind = "number"
        case "enum":
            kind = "radios" if len(values) <= MAX_RADIOS else "select"
        case "list":
            kind = "checkboxes"
        case "boolean":
            kind, options = "radios", (("true", "Yes"), ("false", "No"))
        case _:
            kind = "input"
    return Field(
        name=name,
        id=ident,
        label=label,
        kind=kind,
        required=fd.required,
        hint=hint,
        options=options,
        max_length=fd.max_length,
    )


def trigger_data(
    form_spec: Form, posted: FormData, fields: Mapping[str, FieldDef]
) -> dict[str, Any]:
    """Posted values as a trigger's data: Yes/No back to booleans."""
    data = read(form_spec, posted)
    for name, fd in fields.items():
        if fd.type == "boolean" and name in data:
            data[name] = {"true": True, "false": False}.get(data[name], data[name])
    return data
