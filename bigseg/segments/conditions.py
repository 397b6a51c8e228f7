"""Condition trees of rule files, compiled to Spark Column expressions (no Python UDFs).

A condition is a mapping; its entries are ANDed:

- ``<input>: 4`` equality; ``<input>: [4, 5]`` membership; ``<input>: null`` is null;
- ``<input>: {op: value, ...}`` with ops ``eq ne lt le gt ge in not_in between is_null``
  and the percentile ops ``pct_lt pct_le pct_gt pct_ge`` (``value`` in (0, 1): the
  input's approximate percentile over the table, computed once, see :func:`pct_requests`);
- ``any: [cond, ...]`` (OR), ``all: [cond, ...]`` (AND), ``not: cond``;
- ``sql: "{recency} > 2 * {tenure}"``: a Spark SQL expression, ``{alias}`` replaced by
  the input's expression.

``<input>`` is an alias declared under the rule file's ``inputs`` (a column name or an SQL
expression), never a bare column: that keeps every column a rule file reads in one place.
Every error names the rule set, the segment and the offending piece.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

COMPARE: dict[str, Callable[[Column, Any], Column]] = {
    "eq": lambda c, v: c == F.lit(v),
    "ne": lambda c, v: c != F.lit(v),
    "lt": lambda c, v: c < F.lit(v),
    "le": lambda c, v: c <= F.lit(v),
    "gt": lambda c, v: c > F.lit(v),
    "ge": lambda c, v: c >= F.lit(v),
}
PCT_OPS = {"pct_lt": "lt", "pct_le": "le", "pct_gt": "gt", "pct_ge": "ge"}
SET_OPS = ("in", "not_in", "between", "is_null")
OPS = (*COMPARE, *SET_OPS, *PCT_OPS)
LOGICAL = ("any", "all", "not", "sql")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

# (input alias, percentile) -> threshold value
Thresholds = dict[tuple[str, float], float]


class ConditionError(ValueError):
    """A condition in a rule file that cannot be compiled."""


def _where(ruleset: str, segment: str) -> str:
    return f"rule set {ruleset!r}, segment {segment!r}"


def pct_requests(cond: Any, ruleset: str, segment: str) -> set[tuple[str, float]]:
    """The (input, percentile) pairs a condition needs before it can be compiled."""
    found: set[tuple[str, float]] = set()
    if not isinstance(cond, Mapping):
        return found
    for key, value in cond.items():
        if key in ("any", "all"):
            for sub in value or []:
                found |= pct_requests(sub, ruleset, segment)
        elif key == "not":
            found |= pct_requests(value, ruleset, segment)
        elif isinstance(value, Mapping):
            for op, arg in value.items():
                if op in PCT_OPS:
                    if isinstance(arg, bool) or not isinstance(arg, (int, float)) or not 0 < arg < 1:
                        raise ConditionError(
                            f"{_where(ruleset, segment)}: {key}: {{{op}: {arg!r}}} needs a "
                            "percentile strictly between 0 and 1"
                        )
                    found.add((str(key), float(arg)))
    return found


class ConditionCompiler:
    """Compiles condition trees against resolved inputs (alias -> Column expression).

    ``sql`` holds each input's SQL text for ``sql:`` conditions; ``thresholds`` the
    percentile values of :func:`pct_requests` (fitted once per table).
    """

    def __init__(
        self,
        ruleset: str,
        inputs: Mapping[str, Column],
        sql: Mapping[str, str],
        thresholds: Thresholds | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.inputs = dict(inputs)
        self.sql = dict(sql)
        self.thresholds = dict(thresholds or {})

    def compile(self, cond: Any, segment: str) -> Column:
        """One Column that is true where the condition holds (null where an input is)."""
        where = _where(self.ruleset, segment)
        if not isinstance(cond, Mapping) or not cond:
            raise ConditionError(f"{where}: `when` should be a non-empty mapping, got {cond!r}")
        parts = [self._entry(str(key), value, segment) for key, value in cond.items()]
        out = parts[0]
        for part in parts[1:]:
            out = out & part
        return out

    def _entry(self, key: str, value: Any, segment: str) -> Column:
        where = _where(self.ruleset, segment)
        if key in ("any", "all"):
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{where}: `{key}` needs a non-empty list, got {value!r}")
            subs = [self.compile(sub, segment) for sub in value]
            out = subs[0]
            for sub in subs[1:]:
                out = (out | sub) if key == "any" else (out & sub)
            return out
        if key == "not":
            return ~self.compile(value, segment)
        if key == "sql":
            return self._sql(value, segment)
        column = self._input(key, segment)
        if value is None:
            return column.isNull()
        if isinstance(value, list):
            if not value:
                raise ConditionError(f"{where}: {key}: an empty list matches nobody")
            return column.isin(value)
        if isinstance(value, Mapping):
            return self._ops(key, column, value, segment)
        return column == F.lit(value)

    def _input(self, alias: str, segment: str) -> Column:
        if alias in self.inputs:
            return self.inputs[alias]
        raise ConditionError(
            f"{_where(self.ruleset, segment)}: unknown input {alias!r}; the rule set's "
            f"inputs are {sorted(self.inputs)} (add it under `inputs:`)"
        )

    def _ops(self, alias: str, column: Column, ops: Mapping[str, Any], segment: str) -> Column:
        where = _where(self.ruleset, segment)
        if not ops:
            raise ConditionError(f"{where}: {alias}: an empty test")
        parts = []
        for op, arg in ops.items():
            if op in COMPARE:
                parts.append(COMPARE[op](column, arg))
            elif op in PCT_OPS:
                key = (alias, float(arg))
                if key not in self.thresholds:
                    raise ConditionError(f"{where}: {alias}: no fitted percentile {arg}")
                parts.append(COMPARE[PCT_OPS[op]](column, self.thresholds[key]))
            elif op in ("in", "not_in"):
                if not isinstance(arg, list) or not arg:
                    raise ConditionError(f"{where}: {alias}: `{op}` needs a non-empty list, got {arg!r}")
                parts.append(column.isin(arg) if op == "in" else ~column.isin(arg))
            elif op == "between":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise ConditionError(
                        f"{where}: {alias}: `between` needs [low, high], got {arg!r}"
                    )
                parts.append(column.between(arg[0], arg[1]))
            elif op == "is_null":
                parts.append(column.isNull() if arg else column.isNotNull())
            else:
                raise ConditionError(f"{where}: {alias}: unknown test {op!r}; use one of {OPS}")
        out = parts[0]
        for part in parts[1:]:
            out = out & part
        return out

    def _sql(self, text: Any, segment: str) -> Column:
        where = _where(self.ruleset, segment)
        if not isinstance(text, str) or not text.strip():
            raise ConditionError(f"{where}: `sql` needs an expression string, got {text!r}")

        def sub(match: re.Match) -> str:
            alias = match.group(1)
            if alias not in self.sql:
                raise ConditionError(
                    f"{where}: sql {text!r} names {{{alias}}}, not one of the inputs "
                    f"{sorted(self.sql)}"
                )
            return f"({self.sql[alias]})"

        return F.expr(_PLACEHOLDER.sub(sub, text))
