"""Search expressions: the values a spec slot takes when it is to be searched.

A slot of ``model:`` or ``train:`` holds either a literal (``16``) or one of

* ``{choice: [2, 4, 8]}``                       -> :class:`ChoiceExpr`
* ``{int: [8, 512], step: 8, log: false}``      -> :class:`IntExpr`
* ``{float: [1.0e-4, 1.0e-2], log: true}``      -> :class:`FloatExpr`

with the modifiers ``per: field`` (one decision per field the slot applies to),
``when: {decision: value}`` (the decision exists only when another one has that value)
and ``default:`` (the value used where the decision is inactive or not searched).

:func:`slot` builds the pydantic type of a slot from the type of its literal, so that the
elements of a choice and the bounds of a range are checked like the literal itself.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "ChoiceExpr",
    "Expr",
    "FloatExpr",
    "IntExpr",
    "NonNegFloat",
    "NonNegInt",
    "PosFloat",
    "PosInt",
    "Probability",
    "is_expr",
    "slot",
]

T = TypeVar("T")

# Tags of the slot union. They show up in pydantic's error locations and are removed
# when errors are formatted (see loader.py), so users see ``dim.choice[2]``.
VALUE_TAG, MAP_TAG = "<value>", "<per-field>"
EXPR_KEYS = ("choice", "int", "float")


def _positive_int(v: int) -> int:
    if isinstance(v, bool) or v <= 0:
        raise PydanticCustomError("positive_int", "expected a positive integer")
    return v


def _non_negative_int(v: int) -> int:
    if isinstance(v, bool) or v < 0:
        raise PydanticCustomError("non_negative_int", "expected an integer >= 0")
    return v


def _positive_float(v: float) -> float:
    if not v > 0 or math.isinf(v):
        raise PydanticCustomError("positive_float", "expected a number > 0")
    return v


def _non_negative_float(v: float) -> float:
    if not v >= 0 or math.isinf(v):
        raise PydanticCustomError("non_negative_float", "expected a number >= 0")
    return v


def _probability(v: float) -> float:
    if not 0.0 <= v < 1.0:
        raise PydanticCustomError("probability", "expected a number in [0, 1)")
    return v


PosInt = Annotated[int, AfterValidator(_positive_int), Field(json_schema_extra={"minimum": 1})]
NonNegInt = Annotated[
    int, AfterValidator(_non_negative_int), Field(json_schema_extra={"minimum": 0})
]
PosFloat = Annotated[
    float, AfterValidator(_positive_float), Field(json_schema_extra={"exclusiveMinimum": 0})
]
NonNegFloat = Annotated[
    float, AfterValidator(_non_negative_float), Field(json_schema_extra={"minimum": 0})
]
Probability = Annotated[
    float,
    AfterValidator(_probability),
    Field(json_schema_extra={"minimum": 0, "exclusiveMaximum": 1}),
]


class Expr(BaseModel):
    """Modifiers shared by every search expression."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per: Literal["field"] | None = Field(
        None, description="`field`: one decision for each field the slot applies to."
    )
    when: dict[str, Any] | None = Field(
        None,
        description="Conditions: the decision exists only when each named decision has "
        "the given value (or one of a list of values).",
    )


class ChoiceExpr(Expr, Generic[T]):
    """``{choice: [...]}``: a categorical decision."""

    choice: list[T] = Field(min_length=1, description="The candidate values.")
    default: T | None = Field(None, description="Used where the decision is not searched.")

    @model_validator(mode="after")
    def _check(self) -> ChoiceExpr[T]:
        seen: list[Any] = []
        for value in self.choice:
            if value in seen:
                raise PydanticCustomError("duplicate_choice", f"choice: {value!r} is listed twice")
            seen.append(value)
        if self.default is not None and self.default not in self.choice:
            raise PydanticCustomError(
                "default_not_in_choice",
                f"default: {self.default!r} is not one of the choices {self.choice!r}",
            )
        return self

    @property
    def first(self) -> Any:
        return self.default if self.default is not None else self.choice[0]


class _Range(Expr):
    log: bool = Field(False, description="Sample on a log scale.")

    def _check_range(self, low: float, high: float, step: float | None) -> None:
        if not low <= high:
            raise PydanticCustomError(
                "range_order",
                "`low <= high` must hold, got low={low}, high={high}",
                {"low": low, "high": high},
            )
        if self.log and low <= 0:
            raise PydanticCustomError(
                "log_range", "log: true needs low > 0, got low={low}", {"low": low}
            )
        if step is not None:
            if self.log and step != 1:
                raise PydanticCustomError(
                    "log_step",
                    "step and log: true cannot be combined, got step={step}",
                    {"step": step},
                )
            span = (high - low) / step
            if abs(span - round(span)) > 1e-8:
                raise PydanticCustomError(
                    "range_step",
                    "high - low must be a multiple of step, got low={low}, high={high}, "
                    "step={step}",
                    {"low": low, "high": high, "step": step},
                )
        default = getattr(self, "default", None)
        if default is not None and not low <= default <= high:
            raise PydanticCustomError(
                "default_range",
                "default: {default} is outside [{low}, {high}]",
                {"default": default, "low": low, "high": high},
            )

    @property
    def first(self) -> Any:
        default = getattr(self, "default", None)
        return default if default is not None else self.low  # type: ignore[attr-defined]


class IntExpr(_Range, Generic[T]):
    """``{int: [low, high], step: 1, log: false}``: an integer decision."""

    int_: tuple[T, T] = Field(alias="int", description="[low, high], both included.")
    step: PosInt = Field(1, description="Spacing of the candidate values.")
    default: T | None = None
    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> IntExpr[T]:
        low, high = self.int_
        self._check_range(low, high, self.step if self.step != 1 or self.log else None)
        return self

    @property
    def low(self) -> int:
        return int(self.int_[0])  # type: ignore[call-overload]

    @property
    def high(self) -> int:
        return int(self.int_[1])  # type: ignore[call-overload]


class FloatExpr(_Range, Generic[T]):
    """``{float: [low, high], step: null, log: false}``: a real-valued decision."""

    float_: tuple[T, T] = Field(alias="float", description="[low, high], both included.")
    step: PosFloat | None = Field(None, description="Spacing of the candidate values.")
    default: T | None = None
    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> FloatExpr[T]:
        low, high = self.float_
        self._check_range(low, high, self.step)  # type: ignore[arg-type]
        return self

    @property
    def low(self) -> float:
        return float(self.float_[0])  # type: ignore[arg-type]

    @property
    def high(self) -> float:
        return float(self.float_[1])  # type: ignore[arg-type]


def is_expr(value: object) -> bool:
    """Whether ``value`` is a parsed search expression."""
    return isinstance(value, Expr)


def _tag_of(per_field: bool) -> Any:
    def tag(value: Any) -> str | None:
        if isinstance(value, dict):
            found = [k for k in EXPR_KEYS if k in value]
            if len(found) == 1:
                return f"<{found[0]}>"
            return MAP_TAG if per_field and not found else None
        if isinstance(value, Expr):
            for key in EXPR_KEYS:
                if isinstance(
                    value, {"choice": ChoiceExpr, "int": IntExpr, "float": FloatExpr}[key]
                ):
                    return f"<{key}>"
        return VALUE_TAG

    return tag


def slot(
    literal: Any,
    *,
    ranges: tuple[str, ...] = (),
    per_field: bool = False,
    choice_of: Any = None,
    int_bound: Any = None,
    float_bound: Any = None,
) -> Any:
    """The pydantic type of a slot that takes a literal or a search expression.

    Args:
        literal: the type of the literal value; choices and range bounds are checked
            against it.
        ranges: which range expressions are allowed: ``"int"``, ``"float"``.
        per_field: also accept a concrete ``{field: value}`` mapping (what ``per: field``
            resolves to).
        choice_of: the element type of ``choice`` when it differs from ``literal``.
        int_bound: the type of an ``int`` range's bounds when it differs from ``literal``.
        float_bound: the type of a ``float`` range's bounds when it differs from ``literal``.

    Returns:
        An ``Annotated`` tagged union for use as a pydantic field type.
    """
    kinds = " or ".join(["a value", "{choice: [...]}"] + [f"{{{r}: [low, high]}}" for r in ranges])
    members: list[Any] = [
        Annotated[literal, Tag(VALUE_TAG)],
        Annotated[ChoiceExpr[choice_of if choice_of is not None else literal], Tag("<choice>")],
    ]
    if "int" in ranges:
        members.append(Annotated[IntExpr[int_bound or literal], Tag("<int>")])
    if "float" in ranges:
        members.append(Annotated[FloatExpr[float_bound or literal], Tag("<float>")])
    if per_field:
        members.append(Annotated[dict[str, literal], Tag(MAP_TAG)])
        kinds += " or {field: value, ...}"
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union
        Discriminator(
            _tag_of(per_field),
            custom_error_type="slot",
            custom_error_message=f"expected {kinds}",
        ),
    ]
