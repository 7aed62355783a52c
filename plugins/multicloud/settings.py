"""Per-DAG typed settings: each trigger-form Param is declared once, as a field of its DAG's settings.

A DAG's settings are a frozen dataclass whose fields declared with ``form(default, description,
**json_schema)`` are its trigger form: ``dagkit.params_of(Settings)`` generates the DAG's
``Param``s from them (same default, schema and description), and a run's settings are built from
its Params by ``Settings.from_params(params)``, validated there once (each value against its
field's JSON schema, as the trigger API does, then the class's own ``check``). Fields without
``form`` are settings a run cannot change from the form (tests and the CLI may still pass them).

No Airflow import: the domain code takes these settings, never the task context.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Self

FORM = "multicloud.form"


@dataclasses.dataclass(frozen=True)
class FormField:
    """One trigger-form Param: its default, description and JSON schema (as ``Param(**schema)``)."""

    default: Any
    description: str
    schema: dict[str, Any]


def form(default: Any, description: str, **schema: Any) -> Any:
    """A settings field shown in the trigger form (a dataclass field carrying its Param)."""
    metadata = {FORM: FormField(default, description, schema)}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type", ())
    return {declared} if isinstance(declared, str) else set(declared)


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """A validated JSON value as the field's Python type (a JSON 300 for a number is 300.0)."""
    types = _types(schema)
    if value is None:
        return None
    if "integer" in types and not isinstance(value, bool):
        return int(value)
    if "number" in types and not isinstance(value, bool):
        return float(value)
    if "array" in types:
        return list(value)
    return value


class DagSettings:
    """Base of a DAG's settings dataclass (``@dataclass(frozen=True) class X(DagSettings)``)."""

    @classmethod
    def form_fields(cls) -> Iterator[tuple[str, FormField]]:
        """(name, form field) of every Param of the trigger form, in declaration order."""
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if FORM in f.metadata:
                yield f.name, f.metadata[FORM]

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> Self:
        """The run's settings from its Params (unknown keys ignored; a missing or null value is the
        field's default), validated once: ValueError names the first value that does not fit."""
        params = params or {}
        forms = dict(cls.form_fields())
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            value = params.get(f.name)
            if value is None:
                continue  # the field's default
            values[f.name] = _checked(f.name, value, forms[f.name].schema) if f.name in forms else value
        settings = cls(**values)
        settings.check()
        return settings

    def __post_init__(self) -> None:
        # a form field holds its Python type whatever built it: a JSON 300 for a number is 300.0
        for name, f in self.form_fields():
            object.__setattr__(self, name, _coerce(getattr(self, name), f.schema))

    def check(self) -> None:
        """Checks across fields, or beyond what a JSON schema says (raise ValueError)."""


def _checked(name: str, value: Any, schema: Mapping[str, Any]) -> Any:
    import jsonschema

    try:
        jsonschema.validate(value, dict(schema), format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as exc:
        raise ValueError(f"Param {name}={value!r} is invalid: {exc.message}") from None
    return value
