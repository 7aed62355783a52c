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
# Every form field's JSON Schema dialect, named by its schema's ``$schema``. jsonschema, the validator
# of Airflow's Params (the trigger API, each parse, each serialization of each task, each task's
# context) and of ``from_params``, checks a schema against its dialect's meta-schema on every
# validation; without ``$schema`` that is draft 2020-12, whose check costs about three times
# draft-07's (the 51 Params of the seven DAGs: 12 ms -> 3.8 ms per validation of them all).
SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
# What a form field's schema may say: keywords that mean the same in draft-07 and in 2020-12
# (``items`` as one schema, not draft-07's list of schemas, which 2020-12 calls ``prefixItems``), and
# the trigger form's own annotations, which validators ignore. Anything else is refused when the
# field is declared, so no keyword changes meaning with the dialect.
SCHEMA_KEYWORDS = frozenset({
    "type", "enum", "const", "pattern", "minLength", "maxLength", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "minItems", "maxItems", "uniqueItems",
    "title", "examples", "section", "values_display", "description_md",
})


class Schema(dict):
    """An immutable JSON schema: a ``dict`` (it serializes, validates and renders as one) that refuses
    changes, so a copy, deep or not, is the schema itself.

    Airflow deep-copies a DAG's Params into every task, once per class of the task's operator
    (``BaseOperator``'s ``apply_defaults``); with immutable schemas those copies leave the schemas alone.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a form field's schema cannot be changed")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __copy__(self) -> Schema:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Schema:
        return self

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return Schema, (dict(self),)


class SchemaList(list):
    """An immutable list inside a ``Schema`` (``type``, ``enum``): a ``list`` that refuses changes."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a form field's schema cannot be changed")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = clear = extend = insert = pop = remove = \
        reverse = sort = _refuse  # type: ignore[assignment]

    def __copy__(self) -> SchemaList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SchemaList:
        return self

    def __reduce__(self) -> tuple[type, tuple[list[Any]]]:
        return SchemaList, (list(self),)


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return Schema({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return SchemaList(_frozen(item) for item in value)
    return value


def form_schema(schema: Mapping[str, Any]) -> Schema:
    """A form field's schema: ``schema`` in ``SCHEMA_DIALECT``, immutable; ValueError for a keyword
    outside ``SCHEMA_KEYWORDS`` or an ``items`` that is not one schema."""
    unknown = sorted(set(schema) - SCHEMA_KEYWORDS)
    if unknown:
        raise ValueError(f"schema keyword(s) {unknown} are not allowed in a form field ({sorted(SCHEMA_KEYWORDS)})")
    if "items" in schema and not isinstance(schema["items"], Mapping):
        raise ValueError("a form field's items must be one schema (the same in draft-07 and 2020-12)")
    return _frozen({"$schema": SCHEMA_DIALECT, **schema})


@dataclasses.dataclass(frozen=True)
class FormField:
    """One trigger-form Param: its default, description and JSON schema (``form_schema``: its dialect
    named, immutable), as ``Param(default, description, schema=schema)``."""

    default: Any
    description: str
    schema: Schema


def form(default: Any, description: str, **schema: Any) -> Any:
    """A settings field shown in the trigger form (a dataclass field carrying its Param)."""
    metadata = {FORM: FormField(default, description, form_schema(schema))}
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
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as exc:
        raise ValueError(f"Param {name}={value!r} is invalid: {exc.message}") from None
    return value
