"""Shared field types for API schemas: strict ISO dates, bounded text, the base config."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: Any) -> Any:
    # Partners send dates as `YYYY-MM-DD`; timestamps, numbers and other shapes are refused
    # rather than guessed at, because a statutory clock starts from this value.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Comment = Annotated[str, StringConstraints(max_length=10_000)]


MAX_NESTING = 32  # no request field nests anywhere near this deep


# Ten digits, together or as 3-3-4 with spaces or hyphens, not part of a longer run of
# letters or digits (a UUID, a longer number).
_TEN_DIGITS = re.compile(r"(?<![0-9A-Za-z])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![0-9A-Za-z])")
NHS_NUMBER_REFUSAL = (
    "holds what looks like an NHS number (ten digits that pass the NHS number check); a "
    "child's NHS number is never stored here: refer to the child by your own case reference"
)


def is_nhs_number(digits: str) -> bool:
    """Ten digits whose last is the modulus 11 check digit of the first nine (weights 10 to 2;
    11 - remainder, where 11 is 0 and 10 is never valid)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def holds_nhs_number(text: str) -> bool:
    return any(is_nhs_number("".join(m.groups())) for m in _TEN_DIGITS.finditer(text))


def _refusal(value: Any) -> str | None:
    """Why a parsed JSON body cannot be taken at all, or None: a NUL character (PostgreSQL
    cannot store U+0000 in text or JSONB), or nesting deeper than any field needs."""
    pending: list[tuple[str, Any, int]] = [("", value, 0)]  # a loop: bodies may nest deep
    while pending:
        path, item, depth = pending.pop()
        where = path or "body"
        if depth > MAX_NESTING:
            return f"{where}: nests more than {MAX_NESTING} levels deep"
        if isinstance(item, str) and "\x00" in item:
            return f"{where}: text may not contain the NUL character (U+0000)"
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return f"{where}: text may not contain the NUL character (U+0000)"
                pending.append((f"{path}.{key}" if path else str(key), child, depth + 1))
        elif isinstance(item, list):
            pending.extend(
                (f"{path}.{i}" if path else str(i), c, depth + 1) for i, c in enumerate(item)
            )
    return None


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, so partners learn of a typo at once. No
    text in them may hold an NHS number (the product never stores one), unless the model
    carries secrets rather than records (`holds_records = False`: a password may be digits)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    holds_records: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # Refused on every database alike, before any field is looked at.
        refusal = _refusal(value)
        if refusal is not None:
            raise ValueError(refusal)
        return value

    @model_validator(mode="after")
    def _no_nhs_numbers(self) -> Any:
        # After the fields: a field's own check (with its own message) speaks first, and a
        # nested model checks its own text.
        if self.holds_records:
            where = _nhs_number_in(dict(self))
            if where is not None:
                raise ValueError(f"{where} {NHS_NUMBER_REFUSAL}")
        return self


def _nhs_number_in(fields: dict[str, Any]) -> str | None:
    """The path of the first text among `fields` (and the dicts and lists in them, but not
    the models, which check their own) that holds what passes the NHS number check."""
    pending: list[tuple[str, Any]] = list(fields.items())
    while pending:
        path, item = pending.pop(0)
        if isinstance(item, str):
            if holds_nhs_number(item):
                return path
        elif isinstance(item, dict):
            pending.extend((f"{path}.{k}", v) for k, v in item.items())
        elif isinstance(item, list | tuple):
            pending.extend((f"{path}.{i}", v) for i, v in enumerate(item))
    return None
