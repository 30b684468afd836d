"""Calculating the values an SDC-scored Questionnaire defines for itself.

Clinics import standard instruments (the PHQ-9, an APGAR score) whose scoring
travels inside the Questionnaire in the form the HL7 Structured Data Capture
guide (SDC) gives it: answer weights (`ordinalValue`, `itemWeight`), and
`variable` and `calculatedExpression` extensions written in FHIRPath.
`calculate_sdc` evaluates them over a QuestionnaireResponse with `fhirpathpy`
and reports Tandem's value for every calculated item. A total the response
carries is recomputed, never trusted: the result says what the response
carried and whether it differed.

How a response is calculated:

- The response is read item by item against the Questionnaire (unknown or
  misplaced items are left out; validation reports them). Each calculated item
  gets a place in every instance of its group, even where the response lacks it.
- Rounds: every calculated item is evaluated in document order, its value
  written into the working copy of the response at once, so a later
  expression sees an earlier one's value; then enableWhen is evaluated with
  those values. Answers of items that are not enabled are left out of the
  next round, and a calculated item that is not enabled has no value. Rounds
  repeat until a round changes nothing; values that never settle (a cycle)
  raise `SdcError`.
- Variables are evaluated in scope order: the Questionnaire's own, then each
  enclosing item's from the outermost in, each seeing the ones before it.
  `%resource` is the working response, `%questionnaire` the Questionnaire,
  `%context` the item being calculated (the response for the Questionnaire's
  own variables), `%qitem` its Questionnaire item.
- `weight()` (and `ordinal()`, its older name) gives the weight the
  Questionnaire assigns to an answer or Coding: the `ordinalValue` or
  `itemWeight` of the matching answerOption, or of the matching code (same
  system and code) of a contained ValueSet named by `answerValueSet` as
  `#id` or by url. Weights a response carries are ignored.
- `initialExpression` is not a calculation: it is evaluated once over the
  response as the form opens (the Questionnaire's `initial` values and
  `initialSelected` options), never over the submitted answers.

Sandbox: expressions come from Questionnaires Tandem did not write, so each
call has a deadline covering parsing and evaluation, collections and texts
have size limits, regular-expression functions are refused, and nothing can
reach outside the process: `resolve()`, the terminology functions and
x-fhir-query variables are refused, `trace()` writes nothing. See
docs/sdc-scoring.md.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from time import monotonic
from typing import Any

import fhirpathpy.engine as fhirpath_engine
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.invocations import aggregate, strings
from fhirpathpy.engine.invocations import invocation_registry as fhirpath_functions
from fhirpathpy.engine.nodes import FP_Quantity, FP_Type, ResourceNode
from fhirpathpy.engine.util import get_data
from fhirpathpy.models import models as fhirpath_models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from assessments.answers import value_entry
from assessments.questionnaire import (
    ITEM_WEIGHT,
    ORDINAL_VALUE,
    ItemDefinition,
    QuestionnaireDefinition,
    codings_match,
)
from assessments.validation import _Instance, enable_when_holds

VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
CALCULATED_EXPRESSION = SDC + "sdc-questionnaire-calculatedExpression"
INITIAL_EXPRESSION = SDC + "sdc-questionnaire-initialExpression"
FHIRPATH = "text/fhirpath"

# SDC expression extensions Tandem does not evaluate; a Questionnaire using them is still
# calculated, and the result lists what was left out.
NOT_EVALUATED = {
    SDC + "sdc-questionnaire-enableWhenExpression": "enableWhenExpression",
    SDC + "sdc-questionnaire-answerExpression": "answerExpression",
    SDC + "sdc-questionnaire-candidateExpression": "candidateExpression",
    SDC + "sdc-questionnaire-contextExpression": "contextExpression",
    SDC + "sdc-questionnaire-itemPopulationContext": "itemPopulationContext",
    SDC + "sdc-questionnaire-launchContext": "launchContext",
    SDC + "sdc-questionnaire-answerOptionsToggleExpression": "answerOptionsToggleExpression",
    "http://hl7.org/fhir/StructureDefinition/cqf-expression": "cqf-expression",
}

# The LHC-Forms PHQ-9 (tests/fixtures/lforms) took 313-417 ms on its first call in a
# process (its expressions parsed) and 144-265 ms after, on this project's 2-core build
# machine on a slow day, before constants were worked out once (about a third of that
# now); at 1,000 ms, a full test run on that machine once ran out of time on it. Three
# seconds still stops a runaway expression, with room for a slow machine.
DEFAULT_DEADLINE_MS = 3000
MAX_EXPRESSION_LENGTH = 10_000  # characters
MAX_COLLECTION = 100_000  # items in any intermediate collection
MAX_TEXT = 100_000  # characters in any string an expression builds
MAX_INTEGER = 2**63 - 1  # FHIRPath Integer is 32-bit and Long 64-bit
# environment names no variable may take
RESERVED_NAMES = frozenset(
    {"resource", "questionnaire", "context", "qitem", "rootResource", "ucum"}
)

_R4 = fhirpath_models["r4"]
# fhirpathpy uses the thread's decimal context; evaluation uses this one whatever the caller set.
_DECIMALS = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class SdcError(ValueError):
    """An expression of the Questionnaire could not be evaluated.

    `link_id` names the item whose expression failed (None for the
    Questionnaire's own variables) and `expression` the FHIRPath text; the
    message says both and why (syntax, an error, the deadline, a limit, a
    refused function).
    """

    def __init__(self, message: str, *, link_id: str | None = None, expression: str | None = None):
        super().__init__(message)
        self.link_id = link_id
        self.expression = expression


@dataclass(frozen=True)
class CalculatedValue:
    """Tandem's value for one calculated item, once per instance of the item.

    `kind` is "calculated" (a calculatedExpression, recomputed from the
    answers) or "initial" (an initialExpression, computed over the response as
    the form opens). `values` holds every value (more than one only for a
    repeating item) and `value` the first, or None when the expression gave
    nothing. Numbers are exact: a Decimal for a decimal item, an int for an
    integer item. `carried` holds the values the submitted response gave the
    item (never used for scoring) and `differs` whether it carried any that
    disagree with Tandem's. `pointer` is the item's JSON pointer in the
    submitted response, or None when the response lacks the item.
    """

    link_id: str
    kind: str
    values: tuple[Any, ...]
    carried: tuple[Any, ...]
    differs: bool
    enabled: bool
    pointer: str | None

    @property
    def value(self) -> Any:
        return self.values[0] if self.values else None


@dataclass(frozen=True)
class SdcResult:
    """The calculated values of one response, and which items are enabled with them.

    `enabled` maps every linkId of the Questionnaire to whether the item is
    enabled (in at least one instance of its group) once the calculated values
    are in place. `not_evaluated` lists the parts of the Questionnaire Tandem
    read but did not evaluate (e.g. an enableWhenExpression).
    """

    values: tuple[CalculatedValue, ...]
    enabled: Mapping[str, bool]
    not_evaluated: tuple[str, ...] = ()

    def value(self, link_id: str) -> Any:
        """The value of the first instance of a calculated item; KeyError if it has none."""
        return self.calculated(link_id).value

    def calculated(self, link_id: str) -> CalculatedValue:
        """The first instance of a calculated item; KeyError if the item is not calculated."""
        for calculated in self.values:
            if calculated.link_id == link_id:
                return calculated
        raise KeyError(link_id)


def calculate_sdc(
    questionnaire: dict[str, Any],
    response: dict[str, Any],
    *,
    deadline_ms: int = DEFAULT_DEADLINE_MS,
) -> SdcResult:
    """Every value `questionnaire` calculates for `response`, recomputed by Tandem.

    `deadline_ms` bounds the whole call: parsing and evaluating every
    expression. Raises `SdcError` for an expression that does not parse,
    fails, runs out of time or hits a limit, and `QuestionnaireError` for a
    malformed Questionnaire. The response is not validated here (call
    `validate_response` for that); neither argument is modified.
    """
    if deadline_ms <= 0:
        raise ValueError("deadline_ms must be positive")
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise SdcError("the response is not a FHIR QuestionnaireResponse")
    sandbox = _Sandbox(deadline_ms)
    instrument = _Instrument(questionnaire, sandbox)
    submitted = _Evaluation(instrument, response, sandbox)
    submitted.settle()
    values = [submitted.report(node) for node in submitted.calculated]
    if instrument.initial:
        opening = _Evaluation(instrument, instrument.opening_response(), sandbox)
        opening.settle()
        opening.fill_initial()
        values.extend(opening.report_initial(node, submitted) for node in opening.initial)
    return SdcResult(
        values=tuple(values),
        enabled=submitted.item_enabled,
        not_evaluated=instrument.not_evaluated,
    )


def weight_of(
    questionnaire: dict[str, Any], coding: dict[str, Any], *, link_id: str | None = None
) -> Decimal | None:
    """The weight `questionnaire` assigns to `coding`, or None when it assigns none.

    With `link_id`, the weight among that item's options (or its contained
    ValueSet); without, the weight the Questionnaire gives the coding on any
    item, which must then be the same everywhere (else `SdcError`).
    """
    weights = _Weights(questionnaire, QuestionnaireDefinition.from_fhir(questionnaire))
    if link_id is not None:
        if link_id not in weights.definition.by_link_id:
            raise SdcError(f"the Questionnaire has no item '{link_id}'", link_id=link_id)
        return weights.for_item(link_id, "valueCoding", coding)
    found = {
        weight
        for item in weights.definition.walk()
        if (weight := weights.for_item(item.link_id, "valueCoding", coding)) is not None
    }
    if len(found) > 1:
        raise SdcError(
            f"code '{coding.get('code')}' has different weights on different items; name the item"
        )
    return found.pop() if found else None


# --- the sandbox -------------------------------------------------------------------------


class _OutOfTime(BaseException):
    """The deadline passed. A BaseException, so fhirpathpy's own handlers cannot swallow it."""


class _TooLarge(BaseException):
    """An expression built a collection, text or number beyond the limits."""


class _Refused(BaseException):
    """An expression called a function the sandbox does not offer."""


class _SyntaxError(Exception):
    pass


class _Sandbox:
    """The bounds one `calculate_sdc` call evaluates under.

    Evaluation: fhirpathpy evaluates every node of an expression through
    `fhirpathpy.engine.do_eval`, which it looks up on its module each time.
    Tandem wraps that function once (on import of this module); inside a
    Tandem evaluation on the current thread, the wrapper checks the deadline
    before each node and the size of each node's result after it. Everywhere
    else it calls straight through. Parsing (ANTLR, pure Python) checks the
    deadline on every token the parser looks ahead at and on every node of the
    walk that builds fhirpathpy's syntax tree; parses are cached by text.

    Within one evaluation, a sub-expression that reads only the evaluation's
    constants (see `_repeated`) is worked out once: `%resource.item.where(...)`
    inside `answerOption.where(...)` is the same for every option. Its later
    uses get a copy of its value, and the variables fhirpathpy leaves behind
    it (`$this`, `$index`, `$total`) as it left them.
    """

    def __init__(self, deadline_ms: int) -> None:
        self.deadline_ms = deadline_ms
        self.deadline = monotonic() + deadline_ms / 1000
        self.repeated: frozenset[int] = frozenset()
        self.known: dict[int, tuple[list[Any], tuple[tuple[str, Any], ...]]] = {}

    def parse(self, text: str) -> dict[str, Any]:
        if len(text) > MAX_EXPRESSION_LENGTH:
            raise _TooLarge(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
        token = _ACTIVE.set(self)
        try:
            return _parse(text)
        finally:
            _ACTIVE.reset(token)

    def evaluate(
        self,
        focus: Any,
        tree: dict[str, Any],
        environment: dict[str, Any],
        functions: dict[str, Any],
    ) -> list[Any]:
        # a one-value variable goes in bare, so each use gets a fresh list: fhirpathpy
        # negates a one-item list in place (-%x), which would change %x for later uses (and
        # a sub-expression of it remembered would not see the change)
        environment = {
            name: value[0] if type(value) is list and len(value) == 1 else value
            for name, value in environment.items()
        }
        token = _ACTIVE.set(self)
        outer = self.repeated, self.known
        self.repeated, self.known = tree[_REPEATED], {}
        try:
            with decimal.localcontext(_DECIMALS):
                return apply_parsed_path(  # type: ignore[no-any-return]
                    focus,
                    tree,
                    environment,
                    _R4,
                    {
                        "userInvocationTable": functions,
                        "traceFn": _discard_trace,
                        "returnRawData": True,
                    },
                )
        finally:
            self.repeated, self.known = outer
            _ACTIVE.reset(token)

    def remembered(self, ctx: dict[str, Any], node: dict[str, Any], work: Callable[[], Any]) -> Any:
        """The value of a sub-expression of constants (`_repeated`), worked out on its first
        use in this evaluation. fhirpathpy leaves `$this`, `$index` and `$total` set by the
        functions inside it; a later use sets those its first evaluation set, to what it set
        them to, and leaves the others alone. (Which ones it set is found by putting a
        placeholder of its own in each first: the node reads none of them from outside, see
        `_reads_outside`.) Variables are not changed in place: `evaluate` gives a one-value
        variable bare, so each use of it is a new list."""
        known = self.known.get(id(node))
        if known is not None:
            value, left = known
            for name, was in left:
                ctx[name] = _fresh(was)
            return list(value)
        before = {name: ctx.get(name, _UNSET) for name in _ITERATION_VARIABLES}
        placeholders = {name: object() for name in _ITERATION_VARIABLES}
        ctx.update(placeholders)
        set_inside: list[str] = []
        try:
            value = work()
        finally:
            for name, placeholder in placeholders.items():
                if ctx[name] is not placeholder:
                    set_inside.append(name)
                elif before[name] is _UNSET:  # not set inside: as it was
                    del ctx[name]
                else:
                    ctx[name] = before[name]
        if type(value) is not list:
            return value
        self.check_result(value)
        left = tuple((name, _fresh(ctx[name])) for name in set_inside)
        self.known[id(node)] = (list(value), left)
        return value

    def check_time(self) -> None:
        if monotonic() > self.deadline:
            raise _OutOfTime(f"the deadline of {self.deadline_ms} ms passed")

    def check_result(self, result: list[Any]) -> None:
        if len(result) > MAX_COLLECTION:
            raise _TooLarge(f"a collection of more than {MAX_COLLECTION} items")
        for element in result:
            kind = type(element)
            if kind is str and len(element) > MAX_TEXT:
                raise _TooLarge(f"a text of more than {MAX_TEXT} characters")
            if kind is int and not -MAX_INTEGER <= element <= MAX_INTEGER:
                raise _TooLarge("an integer beyond 64 bits")


_ACTIVE: ContextVar[_Sandbox | None] = ContextVar("tandem_sdc_sandbox", default=None)


def _install_node_guard() -> None:
    current = fhirpath_engine.do_eval
    original: Callable[..., Any] = getattr(current, "__wrapped__", current)

    def guarded_do_eval(ctx: Any, parent_data: Any, node: Any) -> Any:
        sandbox = _ACTIVE.get()
        if sandbox is None:
            return original(ctx, parent_data, node)
        sandbox.check_time()
        if id(node) in sandbox.repeated:
            return sandbox.remembered(ctx, node, lambda: original(ctx, parent_data, node))
        result = original(ctx, parent_data, node)
        if type(result) is list:
            sandbox.check_result(result)
        return result

    guarded_do_eval.__wrapped__ = original  # type: ignore[attr-defined]
    fhirpath_engine.do_eval = guarded_do_eval


_install_node_guard()


def _discard_trace(label: Any, value: Any) -> None:
    """trace() writes nowhere: fhirpathpy would print it."""


def _check_time() -> None:
    sandbox = _ACTIVE.get()
    if sandbox is not None:
        sandbox.check_time()


class _TimedTokens(CommonTokenStream):  # type: ignore[misc]
    """The parser's token stream, checking the deadline at every look-ahead (ANTLR's
    adaptive prediction looks ahead in loops; this is where a pathological text spends
    its time)."""

    def LA(self, i: int) -> int:  # ANTLR's names
        _check_time()
        return super().LA(i)  # type: ignore[no-any-return]

    def LT(self, k: int) -> Any:
        _check_time()
        return super().LT(k)


class _TimedWalker(ParseTreeWalker):  # type: ignore[misc]
    def enterRule(self, listener: Any, rule: Any) -> None:
        _check_time()
        super().enterRule(listener, rule)


class _RaiseOnSyntaxError(ErrorListener):  # type: ignore[misc]
    def syntaxError(
        self, recognizer: Any, offending: Any, line: int, column: int, message: str, error: Any
    ) -> None:
        raise _SyntaxError(f"syntax error at character {column + 1}: {message}")


@lru_cache(maxsize=1024)
def _parse(text: str) -> dict[str, Any]:
    """The fhirpathpy syntax tree of a whole expression.

    fhirpathpy's own `parse` ignores syntax errors (ANTLR recovers and drops
    what it cannot read) and accepts a valid prefix; this one reads the whole
    text (`entireExpression`) and raises on any error.
    """
    lexer = FHIRPathLexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_RaiseOnSyntaxError())
    parser = FHIRPathParser(_TimedTokens(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_RaiseOnSyntaxError())
    listener = ASTPathListener()
    _TimedWalker().walk(listener, parser.entireExpression())
    entire = listener.parentStack[0]["children"][0]  # EntireExpression: expression EOF
    tree: dict[str, Any] = {"children": entire["children"]}
    tree[_REPEATED] = _repeated(tree)
    return tree


def _refuse(reason: str) -> dict[str, Any]:
    def refused(inputs: list[Any], *arguments: Any) -> list[Any]:
        raise _Refused(reason)

    return {"fn": refused, "variadic": "Expr"}


_NO_IO = "Tandem evaluates expressions without network, file or terminology access"
_NO_REGEX = "regular expressions can run without bound, so Tandem does not evaluate them"


def _replace(inputs: list[Any], pattern: Any, substitution: Any) -> Any:
    texts = len(inputs) == 1 and isinstance(inputs[0], str)
    if texts and isinstance(pattern, str) and isinstance(substitution, str):
        text = inputs[0]
        count = len(text) + 1 if pattern == "" else text.count(pattern)
        if len(text) + count * (len(substitution) - len(pattern)) > MAX_TEXT:
            raise _TooLarge(f"replace() would build a text of more than {MAX_TEXT} characters")
    return strings.replace(None, inputs, pattern, substitution)


def _join(inputs: list[Any], separator: Any = "") -> Any:
    texts = [value for value in inputs if isinstance(value, str)]
    gaps = len(separator) * max(len(texts) - 1, 0) if isinstance(separator, str) else 0
    if sum(map(len, texts)) + gaps > MAX_TEXT:
        raise _TooLarge(f"join() would build a text of more than {MAX_TEXT} characters")
    return strings.join(None, inputs, separator)


def _aggregate(function: Callable[[Any, list[Any]], Any]) -> dict[str, Any]:
    # fhirpathpy's sum/min/max/avg fail on values read from a resource (they are wrapped);
    # user functions receive them unwrapped.
    return {"fn": lambda inputs: function(None, inputs)}


# Functions every evaluation gets on top of (or instead of) fhirpathpy's own.
_SANDBOX_FUNCTIONS: dict[str, Any] = {
    **{
        name: _refuse(f"{name}() is not available: {_NO_IO}")
        for name in (
            "resolve", "memberOf", "conformsTo", "subsumes", "subsumedBy", "htmlChecks",
            "expand", "lookup", "validateVS", "validateCS", "translate",
        )
    },
    **{
        name: _refuse(f"{name}() is not available: {_NO_REGEX}")
        for name in ("matches", "matchesFull", "replaceMatches")
    },
    "replace": {"fn": _replace, "arity": {2: ["String", "String"]}, "nullable_input": True},
    "join": {"fn": _join, "arity": {0: [], 1: ["String"]}},
    "sum": _aggregate(aggregate.sum_fn),
    "min": _aggregate(aggregate.min_fn),
    "max": _aggregate(aggregate.max_fn),
    "avg": _aggregate(aggregate.avg_fn),
}  # fmt: skip


# --- sub-expressions worth working out once an evaluation ----------------------------
#
# fhirpathpy evaluates a function's "Expr" parameters (where, select, exists, all, repeat,
# iif, coalesce, aggregate) over and over, for each item of its input: everything inside
# such a parameter again each time. A sub-expression there that starts from a %variable
# and reads nothing else that changes (no implicit focus, no $this, $index or $total but
# those its own functions set) has the same value every time, within one evaluation.

_REPEATED = "tandem_repeated"  # in a parsed tree: ids of its nodes worth remembering
_ITERATION_VARIABLES = ("$this", "$index", "$total")  # what fhirpathpy leaves in its ctx
_UNSET: Any = object()  # an iteration variable fhirpathpy had not set
# names for the iteration variables and the implicit focus in fhirpathpy's syntax tree
_SET_BY_SOME_FUNCTIONS = frozenset({"IndexInvocation", "TotalInvocation"})
_OUTSIDE = frozenset({"ThisInvocation", "InvocationTerm", *_SET_BY_SOME_FUNCTIONS})


def _repeated(tree: dict[str, Any]) -> frozenset[int]:
    """The ids of the nodes of `tree` that sit inside an "Expr" parameter (evaluated again
    for each item) and whose value depends on nothing but the evaluation's constants: the
    outermost such nodes, and the outermost inside their own "Expr" parameters."""
    found: set[int] = set()

    def walk(node: dict[str, Any], inside: bool) -> None:
        if (
            inside
            and node.get("type") == "InvocationExpression"
            and _starts_from_a_variable(node)
            and not _reads_outside(node)
        ):
            found.add(id(node))
            # what is under it runs as often as it does, but for its own "Expr" parameters
            inside = False
        if node.get("type") == "FunctionInvocation":
            parameters, kinds = _call(node)
            for index, parameter in enumerate(parameters):
                walk(parameter, inside or (kinds is not None and kinds[index] == "Expr"))
            return
        for child in node.get("children") or ():
            walk(child, inside)

    for child in tree["children"]:
        walk(child, False)
    return frozenset(found)


def _starts_from_a_variable(node: dict[str, Any]) -> bool:
    """Whether the chain `node` is (`%a.b.f(...)...`) starts from a %variable. Nothing else
    of it is then evaluated on the focus it is given: an operator on its left (`(1 + 2).f()`)
    would be, and would leave that focus behind it in fhirpathpy's $this."""
    while node.get("type") == "InvocationExpression":
        node = (node.get("children") or [{}])[0]
    term = (node.get("children") or [{}])[0] if node.get("type") == "TermExpression" else {}
    return term.get("type") == "ExternalConstantTerm"


def _reads_outside(node: dict[str, Any]) -> bool:
    """Whether `node`'s value may depend on more than the evaluation's constants: the
    focus it is evaluated on, or an iteration variable set outside it. Conservative:
    any function not known, or a parameter whose kind is not known, counts as reading."""
    kind = node.get("type")
    if kind in _OUTSIDE:
        return True
    if kind == "FunctionInvocation":  # the invocation part of `left.f(...)`
        parameters, kinds = _call(node)
        if kinds is None:
            return True
        for parameter, parameter_kind in zip(parameters, kinds, strict=True):
            if parameter_kind == "Expr":
                # its focus and $this are what the function gives it; $index and $total
                # are set only by some functions, so either counts as reading outside
                if _mentions(parameter, _SET_BY_SOME_FUNCTIONS):
                    return True
            elif parameter_kind not in ("Identifier", "TypeSpecifier") and _reads_outside(
                parameter
            ):
                return True  # evaluated on fhirpathpy's current $this
        return False
    return any(_reads_outside(child) for child in node.get("children") or ())


# weight() and its older name ordinal(): each evaluation's own (`_Evaluation._weight`), of
# the answers they are given, with no parameter.
_WEIGHT_FUNCTIONS = ("weight", "ordinal")
# Every function an evaluation can call: fhirpathpy's, the sandbox's and the weights'.
_FUNCTION_KINDS: dict[str, dict[str, Any]] = {
    **fhirpath_functions, **_SANDBOX_FUNCTIONS, **{name: {} for name in _WEIGHT_FUNCTIONS},
}  # fmt: skip


def _fresh(value: Any) -> Any:
    """A list copied (fhirpathpy changes some lists in place); anything else as it is."""
    return list(value) if type(value) is list else value


def _call(node: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str] | None]:
    """A FunctionInvocation's parameters, and the kind fhirpathpy evaluates each as
    ("Expr": again for each item, on it; else once, on its current $this), or None for
    the kinds when the function or that number of parameters is not known."""
    functn = (node.get("children") or [{}])[0]
    parts = functn.get("children") or []
    name = parts[0].get("text") if parts else None
    parameters = list(parts[1].get("children") or []) if len(parts) > 1 else []
    known = _FUNCTION_KINDS.get(name)  # type: ignore[arg-type]
    if known is None:
        return parameters, None
    if "variadic" in known:
        return parameters, [known["variadic"]] * len(parameters)
    kinds = known.get("arity", {0: []}).get(len(parameters))
    return parameters, None if kinds is None else list(kinds)


def _mentions(node: dict[str, Any], kinds: set[str]) -> bool:
    """Whether a node of one of `kinds` is in the tree under `node`."""
    return node.get("type") in kinds or any(
        _mentions(child, kinds) for child in node.get("children") or ()
    )


# --- the Questionnaire's expressions and weights -------------------------------------


@dataclass(frozen=True)
class _Expression:
    kind: str  # "variable", "calculatedExpression" or "initialExpression"
    text: str
    tree: dict[str, Any] = field(repr=False)
    name: str | None = None  # variables only


@dataclass(frozen=True)
class _ItemExpressions:
    variables: tuple[_Expression, ...] = ()
    calculated: _Expression | None = None
    initial: _Expression | None = None


class _Weights:
    """The weights a Questionnaire gives answer codings: answerOption, then contained ValueSets."""

    def __init__(self, questionnaire: dict[str, Any], definition: QuestionnaireDefinition):
        self.definition = definition
        self.not_contained: list[str] = []
        # weights of the Questionnaire's own option codings, by identity (weight() over
        # %questionnaire reads these)
        self.by_identity: dict[int, Decimal | None] = {}
        value_sets: dict[str, list[tuple[dict[str, Any], Decimal | None]]] = {}
        for resource in _list(questionnaire.get("contained")):
            if isinstance(resource, dict) and resource.get("resourceType") == "ValueSet":
                entries = list(self._value_set_entries(resource))
                if isinstance(resource.get("id"), str):
                    value_sets["#" + resource["id"]] = entries
                if isinstance(resource.get("url"), str):
                    value_sets[resource["url"]] = entries
                    if isinstance(resource.get("version"), str):
                        value_sets[f"{resource['url']}|{resource['version']}"] = entries
        self.value_set_of: dict[str, list[tuple[dict[str, Any], Decimal | None]]] = {}
        for raw in _walk_raw(questionnaire.get("item")):
            link_id = raw.get("linkId")
            for option in _list(raw.get("answerOption")):
                if isinstance(option, dict):
                    coding = option.get("valueCoding")
                    weight = _weight_extension(option)
                    if weight is None and isinstance(coding, dict):
                        weight = _weight_extension(coding)
                    self.by_identity[id(option)] = weight
                    if isinstance(coding, dict):
                        self.by_identity[id(coding)] = weight
            reference = raw.get("answerValueSet")
            if isinstance(reference, str) and isinstance(link_id, str):
                if reference in value_sets:
                    self.value_set_of[link_id] = value_sets[reference]
                else:
                    self.not_contained.append(
                        f"item '{link_id}': answerValueSet '{reference}' is not contained in "
                        "the Questionnaire; Tandem does not fetch it, so its weights are unknown"
                    )

    def _value_set_entries(
        self, value_set: dict[str, Any]
    ) -> Iterator[tuple[dict[str, Any], Decimal | None]]:
        expansion = value_set.get("expansion")
        stack = list(_list(expansion.get("contains"))) if isinstance(expansion, dict) else []
        while stack:
            entry = stack.pop(0)
            if isinstance(entry, dict):
                weight = _weight_extension(entry)
                self.by_identity[id(entry)] = weight
                yield entry, weight
                stack.extend(_list(entry.get("contains")))
        compose = value_set.get("compose")
        for include in _list(compose.get("include")) if isinstance(compose, dict) else ():
            if not isinstance(include, dict):
                continue
            for concept in _list(include.get("concept")):
                if isinstance(concept, dict):
                    weight = _weight_extension(concept)
                    self.by_identity[id(concept)] = weight
                    coding = {"system": include.get("system"), "code": concept.get("code")}
                    yield {k: v for k, v in coding.items() if v is not None}, weight

    def for_item(self, link_id: str, value_key: str, value: Any) -> Decimal | None:
        """The weight of an answer (`value_key`, `value`) to item `link_id`: the weight of
        the answerOption it chose, or for a Coding of its match in the contained ValueSet."""
        item = self.definition.by_link_id[link_id]
        if item.options:
            option = item.option_for(value_key, value)
            return None if option is None else option.ordinal
        if value_key == "valueCoding" and isinstance(value, dict):
            for entry, weight in self.value_set_of.get(link_id, ()):
                if weight is not None and codings_match(entry, value):
                    return weight
        return None


def _weight_extension(element: dict[str, Any]) -> Decimal | None:
    for url in (ORDINAL_VALUE, ITEM_WEIGHT):
        for extension in _list(element.get("extension")):
            if isinstance(extension, dict) and extension.get("url") == url:
                entry = value_entry(extension)
                value = entry[1] if entry else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return Decimal(str(value))
    return None


class _Instrument:
    """A Questionnaire read for calculation: its items, expressions (parsed) and weights."""

    def __init__(self, questionnaire: dict[str, Any], sandbox: _Sandbox):
        if not isinstance(questionnaire, dict):
            raise SdcError("the questionnaire is not a FHIR Questionnaire")
        self.raw = questionnaire
        self.definition = QuestionnaireDefinition.from_fhir(questionnaire)
        self.weights = _Weights(questionnaire, self.definition)
        self.raw_items = {
            raw["linkId"]: raw
            for raw in _walk_raw(questionnaire.get("item"))
            if isinstance(raw.get("linkId"), str)
        }
        not_evaluated: list[str] = list(self.weights.not_contained)
        self.root = self._read(questionnaire, None, sandbox, not_evaluated)
        self.items = {
            link_id: self._read(raw, self.definition.by_link_id[link_id], sandbox, not_evaluated)
            for link_id, raw in self.raw_items.items()
        }
        self.not_evaluated = tuple(not_evaluated)
        self.calculated = frozenset(k for k, v in self.items.items() if v.calculated)
        self.initial = frozenset(k for k, v in self.items.items() if v.initial)
        # items the working response must hold even when the response lacks them: the
        # calculated ones and the groups around them
        self.placed: set[str] = set()
        for link_id in self.calculated | self.initial:
            item: ItemDefinition | None = self.definition.by_link_id[link_id]
            while item is not None:
                self.placed.add(item.link_id)
                item = self.definition.by_link_id.get(item.parent) if item.parent else None

    def _read(
        self,
        element: dict[str, Any],
        item: ItemDefinition | None,
        sandbox: _Sandbox,
        not_evaluated: list[str],
    ) -> _ItemExpressions:
        where = f"item '{item.link_id}'" if item else "the Questionnaire"
        link_id = item.link_id if item else None
        variables: list[_Expression] = []
        calculated = initial = None
        for extension in _list(element.get("extension")):
            url = extension.get("url") if isinstance(extension, dict) else None
            if url in NOT_EVALUATED:
                not_evaluated.append(f"{where}: {NOT_EVALUATED[url]} is not evaluated")
                continue
            kind = {
                VARIABLE: "variable",
                CALCULATED_EXPRESSION: "calculatedExpression",
                INITIAL_EXPRESSION: "initialExpression",
            }.get(url)  # type: ignore[arg-type]
            if kind is None:
                continue
            value = extension.get("valueExpression")
            if not isinstance(value, dict) or not isinstance(value.get("expression"), str):
                not_evaluated.append(f"{where}: a {kind} without a FHIRPath expression")
                continue
            if value.get("language") != FHIRPATH:
                not_evaluated.append(
                    f"{where}: {kind} in {value.get('language')!r} is not evaluated "
                    "(Tandem evaluates text/fhirpath only)"
                )
                continue
            name = value.get("name")
            if kind == "variable" and (not isinstance(name, str) or name in RESERVED_NAMES):
                raise SdcError(
                    f"{where}: a variable needs a name other than {sorted(RESERVED_NAMES)}",
                    link_id=link_id,
                    expression=value["expression"],
                )
            if kind != "variable" and (item is None or not item.is_question):
                not_evaluated.append(f"{where}: a {kind} outside a question is not evaluated")
                continue
            text = value["expression"]
            unparsed = _Expression(kind, text, {}, name)
            expression = _Expression(
                kind, text, _guarded(sandbox.parse, text, link_id, unparsed), name
            )
            if kind == "variable":
                variables.append(expression)
            elif kind == "calculatedExpression":
                calculated = expression
            else:
                initial = expression
        return _ItemExpressions(tuple(variables), calculated, initial)

    def opening_response(self) -> dict[str, Any]:
        """The response as the form opens: the Questionnaire's initial values only."""
        return {"resourceType": "QuestionnaireResponse", "item": self._opening(self.raw)}

    def _opening(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        items = []
        for raw in _list(parent.get("item")):
            if not isinstance(raw, dict) or not isinstance(raw.get("linkId"), str):
                continue
            answers = []
            for initial in _list(raw.get("initial")):
                entry = value_entry(initial)
                if entry is not None:
                    answers.append(dict([entry]))
            for option in _list(raw.get("answerOption")):
                entry = value_entry(option)
                if entry is not None and option.get("initialSelected") is True:
                    answers.append(dict([entry]))
            children = self._opening(raw)
            if answers or children:
                item: dict[str, Any] = {"linkId": raw["linkId"]}
                if answers:
                    item["answer"] = answers
                if children:
                    item["item"] = children
                items.append(item)
        return items


def _guarded(
    action: Callable[[Any], Any], argument: Any, link_id: str | None, expression: _Expression
) -> Any:
    """Run `action(argument)`, turning whatever goes wrong into an SdcError naming the item
    and the expression."""
    try:
        return action(argument)
    except SdcError:
        raise
    except (_OutOfTime, _TooLarge, _Refused, Exception) as error:
        reason = str(error) or type(error).__name__
        if isinstance(error, RecursionError):
            reason = "the expression nests too deeply"
        raise _error(link_id, expression, f"could not be evaluated: {reason}") from error


def _error(link_id: str | None, expression: _Expression, problem: str) -> SdcError:
    """An SdcError naming the item, the expression (shortened) and the problem."""
    where = f"item '{link_id}'" if link_id else "the Questionnaire"
    what = f"variable '{expression.name}'" if expression.name else expression.kind
    text = expression.text if len(expression.text) <= 120 else expression.text[:117] + "..."
    return SdcError(
        f"{where}: {what} `{text}` {problem}", link_id=link_id, expression=expression.text
    )


# --- one response, calculated --------------------------------------------------------


@dataclass(eq=False)
class _Node:
    """One occurrence of a Questionnaire item in the response (or placed there by Tandem)."""

    definition: ItemDefinition
    parent: _Node | None
    raw: dict[str, Any] | None  # None when Tandem placed the item
    pointer: str | None
    children: list[_Node] = field(default_factory=list)  # items under the item
    answers: list[_AnswerNode] = field(default_factory=list)


@dataclass(eq=False)
class _AnswerNode:
    answer: dict[str, Any]  # as submitted, without its nested items
    children: list[_Node]


class _Evaluation:
    """A response read against an instrument, and its calculated values worked out."""

    def __init__(self, instrument: _Instrument, response: dict[str, Any], sandbox: _Sandbox):
        self.instrument = instrument
        self.response = response
        self.sandbox = sandbox
        self.roots = self._read_level(
            instrument.definition.items, response.get("item"), "/item", None, create=True
        )
        self.calculated = [
            n for n in self._nodes() if n.definition.link_id in instrument.calculated
        ]
        self.initial = [n for n in self._nodes() if n.definition.link_id in instrument.initial]
        self.values: dict[_Node, list[dict[str, Any]]] = {n: [] for n in self.calculated}
        self.node_enabled: dict[_Node, bool] = {}
        self.item_enabled: dict[str, bool] = {}
        # rebuilt each round
        self.working: dict[str, Any] = {}
        self.working_of: dict[_Node, dict[str, Any]] = {}
        self.working_answers: dict[_AnswerNode, dict[str, Any]] = {}
        # id of each answer and Coding in the working response -> (item, is an answer, the
        # object itself, held so that its id is not reused within the round)
        self.owners: dict[int, tuple[ItemDefinition, bool, dict[str, Any]]] = {}
        self.functions = {
            **_SANDBOX_FUNCTIONS,
            **{name: {"fn": self._weight} for name in _WEIGHT_FUNCTIONS},
        }

    # reading the response

    def _read_level(
        self,
        definitions: tuple[ItemDefinition, ...],
        raw_items: Any,
        pointer: str | None,
        parent: _Node | None,
        create: bool,
    ) -> list[_Node]:
        occurrences: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, raw in enumerate(_list(raw_items)):
            if isinstance(raw, dict) and isinstance(raw.get("linkId"), str):
                occurrences.setdefault(raw["linkId"], []).append((index, raw))
        nodes = []
        for definition in definitions:
            found = occurrences.get(definition.link_id, [])
            if not (definition.type == "group" and definition.repeats):
                found = found[:1]
            for index, raw in found:
                nodes.append(self._read_node(definition, raw, _at(pointer, index), parent))
            if not found and create and definition.link_id in self.instrument.placed:
                nodes.append(self._read_node(definition, None, None, parent))
        return nodes

    def _read_node(
        self,
        definition: ItemDefinition,
        raw: dict[str, Any] | None,
        pointer: str | None,
        parent: _Node | None,
    ) -> _Node:
        node = _Node(definition, parent, raw, pointer)
        raw = raw or {}
        for index, answer in enumerate(_list(raw.get("answer"))):
            if isinstance(answer, dict):
                nested = self._read_level(
                    definition.children,
                    answer.get("item"),
                    _at(_at(_at(pointer, "answer"), index), "item"),
                    node,
                    create=False,
                )
                bare = {key: value for key, value in answer.items() if key != "item"}
                node.answers.append(_AnswerNode(bare, nested))
        holds_nested = any(answer.children for answer in node.answers)
        node.children = self._read_level(
            definition.children, raw.get("item"), _at(pointer, "item"), node, not holds_nested
        )
        return node

    def _nodes(self) -> Iterator[_Node]:
        """Every node, depth first, in document order."""
        stack = list(reversed(self.roots))
        while stack:
            node = stack.pop()
            yield node
            below = node.children + [c for answer in node.answers for c in answer.children]
            stack.extend(reversed(below))

    # the rounds

    def settle(self) -> None:
        """Calculate and evaluate enableWhen, round after round, until nothing changes."""
        with_conditions = sum(1 for item in self.instrument.definition.walk() if item.enable_when)
        changed: list[_Node] = []
        for _ in range(len(self.calculated) + with_conditions + 2):
            self._build_working()
            changed = []
            for node in self.calculated:
                answers = self._calculate(node) if self.node_enabled.get(node, True) else []
                if answers != self.values[node]:
                    changed.append(node)
                    self.values[node] = answers
                    self._place(node, answers)
            before = dict(self.node_enabled)
            self._evaluate_enable_when()
            if not changed and before == self.node_enabled:
                return
        moving = list(dict.fromkeys(node.definition.link_id for node in changed))
        raise SdcError(
            f"the values of {', '.join(repr(link_id) for link_id in moving) or 'enableWhen'} "
            "do not settle: the Questionnaire's expressions and enableWhen conditions depend "
            "on each other in a cycle",
            link_id=moving[0] if moving else None,
        )

    def fill_initial(self) -> None:
        """Evaluate the initialExpressions once, in document order, over the settled response."""
        self._build_working()
        for node in self.initial:
            answers = self._evaluate_item(node, "initial") if self.node_enabled[node] else []
            self.values[node] = answers
            self._place(node, answers)

    def _calculate(self, node: _Node) -> list[dict[str, Any]]:
        return self._evaluate_item(node, "calculated")

    def _evaluate_item(self, node: _Node, kind: str) -> list[dict[str, Any]]:
        definition = node.definition
        expressions = self.instrument.items[definition.link_id]
        expression = expressions.calculated if kind == "calculated" else expressions.initial
        assert expression is not None
        environment = self._variables_for(node)
        context = self.working_of[node]
        results = self._run(expression, definition, context, environment)
        values = [_plain(result) for result in results]
        if len(values) > 1 and not definition.repeats:
            raise _error(
                definition.link_id,
                expression,
                f"gives {len(values)} values but the item does not repeat",
            )
        return [_answer(definition, value, expression) for value in values]

    def _variables_for(self, node: _Node) -> dict[str, Any]:
        """The variables in scope at `node`: the Questionnaire's, then each enclosing item's."""
        environment: dict[str, Any] = {}
        for expression in self.instrument.root.variables:
            environment[expression.name] = self._run(  # type: ignore[index]
                expression, None, self.working, environment
            )
        chain = []
        ancestor: _Node | None = node
        while ancestor is not None:
            chain.append(ancestor)
            ancestor = ancestor.parent
        for scope in reversed(chain):
            for expression in self.instrument.items[scope.definition.link_id].variables:
                environment[expression.name] = self._run(  # type: ignore[index]
                    expression, scope.definition, self.working_of[scope], environment
                )
        return environment

    def _run(
        self,
        expression: _Expression,
        definition: ItemDefinition | None,
        context: dict[str, Any],
        variables: dict[str, Any],
    ) -> list[Any]:
        if definition is None:
            focus = context
            qitem = None
        else:
            focus = ResourceNode.create_node(context, "QuestionnaireResponse.item")
            qitem = ResourceNode.create_node(
                self.instrument.raw_items[definition.link_id], "Questionnaire.item"
            )
        environment = {
            **variables,
            "resource": self.working,
            "rootResource": self.working,
            "questionnaire": self.instrument.raw,
            "context": focus,
            "qitem": qitem,
        }

        def evaluate(tree: dict[str, Any]) -> list[Any]:
            return self.sandbox.evaluate(focus, tree, environment, self.functions)

        link_id = definition.link_id if definition else None
        results: list[Any] = _guarded(evaluate, expression.tree, link_id, expression)
        return results

    # the working response

    def _build_working(self) -> None:
        """The response as expressions see it this round: submitted answers (of enabled items),
        Tandem's calculated values in place of any the response carried."""
        self.working_of = {}
        self.working_answers = {}
        self.owners = {}
        self.working = {
            **{key: value for key, value in self.response.items() if key != "item"},
            "item": self._working_level(self.roots),
        }

    def _working_level(self, nodes: list[_Node]) -> list[dict[str, Any]]:
        items = []
        for node in nodes:
            if not self.node_enabled.get(node, True):
                continue
            raw = node.raw or {"linkId": node.definition.link_id}
            item = {key: value for key, value in raw.items() if key not in ("answer", "item")}
            self.working_of[node] = item
            if node in self.values:
                self._place(node, self.values[node])
            else:
                answers = []
                for answer_node in node.answers:
                    answer = self._own(node.definition, answer_node.answer)
                    self.working_answers[answer_node] = answer
                    if answer_node.children:
                        answer["item"] = self._working_level(answer_node.children)
                    answers.append(answer)
                if answers:
                    item["answer"] = answers
            children = self._working_level(node.children)
            if children:
                item["item"] = children
            items.append(item)
        return items

    def _place(self, node: _Node, answers: list[dict[str, Any]]) -> None:
        item = self.working_of.get(node)
        if item is None:
            return
        if answers:
            item["answer"] = [self._own(node.definition, answer) for answer in answers]
        else:
            item.pop("answer", None)

    def _own(self, definition: ItemDefinition, answer: dict[str, Any]) -> dict[str, Any]:
        """A fresh copy of an answer, registered so weight() knows which item it answers."""
        copy = dict(answer)
        self.owners[id(copy)] = (definition, True, copy)
        coding = copy.get("valueCoding")
        if isinstance(coding, dict):
            copy["valueCoding"] = dict(coding)
            self.owners[id(copy["valueCoding"])] = (definition, False, copy["valueCoding"])
        return copy

    def _weight(self, inputs: list[Any], *arguments: Any) -> list[Any]:
        """SDC weight(): the Questionnaire's weight of each answer or Coding given."""
        weights = []
        for element in inputs:
            if not isinstance(element, dict):
                continue
            owner = self.owners.get(id(element))
            if owner is None:
                weight = self.instrument.weights.by_identity.get(id(element))
            else:
                definition, is_answer, _ = owner
                entry = value_entry(element) if is_answer else ("valueCoding", element)
                weight = (
                    None
                    if entry is None
                    else self.instrument.weights.for_item(definition.link_id, *entry)
                )
            if weight is not None:
                weights.append(weight)
        return weights

    # enableWhen

    def _evaluate_enable_when(self) -> None:
        self.node_enabled = {}
        self.item_enabled = {}
        root = _Instance(None, self.working["item"], None)
        self._enable_level(self.instrument.definition.items, self.roots, root, True)

    def _enable_level(
        self,
        definitions: tuple[ItemDefinition, ...],
        nodes: list[_Node],
        instance: _Instance,
        enabled: bool,
    ) -> None:
        for definition in definitions:
            here = enabled and enable_when_holds(definition, instance)
            link_id = definition.link_id
            self.item_enabled[link_id] = self.item_enabled.get(link_id, False) or here
            mine = [node for node in nodes if node.definition is definition]
            scope = definition.descendants
            if not mine:
                self._enable_level(definition.children, [], _Instance(instance, [], scope), here)
            for node in mine:
                self.node_enabled[node] = here
                item = self.working_of.get(node, {})
                inner = _Instance(instance, item.get("item", []), scope)
                self._enable_level(definition.children, node.children, inner, here)
                for answer_node in node.answers:
                    answer = self.working_answers.get(answer_node, {})
                    nested = _Instance(instance, answer.get("item", []), scope)
                    self._enable_level(definition.children, answer_node.children, nested, here)

    # the report

    def report(self, node: _Node) -> CalculatedValue:
        values = tuple(_answer_value(answer) for answer in self.values[node])
        carried = _carried(node.raw)
        return CalculatedValue(
            link_id=node.definition.link_id,
            kind="calculated",
            values=values,
            carried=carried,
            differs=bool(carried) and not _same_values(carried, values),
            enabled=self.node_enabled.get(node, False),
            pointer=node.pointer,
        )

    def report_initial(self, node: _Node, submitted: _Evaluation) -> CalculatedValue:
        link_id = node.definition.link_id
        values = tuple(_answer_value(answer) for answer in self.values[node])
        there = next((n for n in submitted._nodes() if n.definition.link_id == link_id), None)
        carried = _carried(there.raw if there else None)
        return CalculatedValue(
            link_id=link_id,
            kind="initial",
            values=values,
            carried=carried,
            differs=bool(carried) and not _same_values(carried, values),
            enabled=submitted.node_enabled.get(there, False) if there else False,
            pointer=there.pointer if there else None,
        )


# --- values --------------------------------------------------------------------------


def _plain(result: Any) -> Any:
    """A FHIRPath result as plain data (numbers from JSON floats become Decimals)."""
    return get_data(result)


def _answer(definition: ItemDefinition, value: Any, expression: _Expression) -> dict[str, Any]:
    """The answer an item of `definition`'s type holds for an expression's value."""
    item_type = definition.type
    is_number = isinstance(value, int | Decimal) and not isinstance(value, bool)
    if item_type == "decimal" and is_number:
        return {"valueDecimal": Decimal(value)}
    if item_type == "integer" and is_number and Decimal(value) == Decimal(value).to_integral():
        return {"valueInteger": int(value)}
    if item_type == "boolean" and isinstance(value, bool):
        return {"valueBoolean": value}
    if item_type in ("string", "text") and isinstance(value, str):
        return {"valueString": value}
    if item_type == "url" and isinstance(value, str):
        return {"valueUri": value}
    if item_type in ("date", "dateTime", "time") and isinstance(value, str | FP_Type):
        key = {"date": "valueDate", "dateTime": "valueDateTime", "time": "valueTime"}[item_type]
        return {key: str(value)}
    if item_type in ("choice", "open-choice"):
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            return {"valueCoding": dict(value)}
        if item_type == "open-choice" and isinstance(value, str):
            return {"valueString": value}
    if item_type == "quantity":
        if isinstance(value, FP_Quantity):
            return {"valueQuantity": {"value": value.value, "unit": str(value.unit).strip("'")}}
        if isinstance(value, dict):
            return {"valueQuantity": dict(value)}
    article = "an" if item_type[0] in "aeiou" else "a"
    raise _error(
        definition.link_id,
        expression,
        f"gives {_describe(value)}, which does not fit {article} {item_type} item",
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | Decimal):
        return f"the number {value}"
    if isinstance(value, str):
        return "a text"
    return f"a {type(value).__name__}"


def _answer_value(answer: dict[str, Any]) -> Any:
    entry = value_entry(answer)
    return None if entry is None else entry[1]


def _carried(raw: dict[str, Any] | None) -> tuple[Any, ...]:
    """The values the submitted item carried, floats as Decimals."""
    if raw is None:
        return ()
    values = []
    for answer in _list(raw.get("answer")):
        entry = value_entry(answer)
        if entry is not None:
            value = entry[1]
            values.append(Decimal(str(value)) if isinstance(value, float) else value)
    return tuple(values)


def _same_values(carried: tuple[Any, ...], computed: tuple[Any, ...]) -> bool:
    if len(carried) != len(computed):
        return False
    for given, ours in zip(carried, computed, strict=True):
        if isinstance(ours, dict) and isinstance(given, dict) and "code" in ours:
            if not (codings_match(ours, given) and codings_match(given, ours)):
                return False
        elif isinstance(ours, bool) or isinstance(given, bool):
            if given is not ours:
                return False
        elif isinstance(ours, int | Decimal) and isinstance(given, int | Decimal):
            if Decimal(given) != Decimal(ours):
                return False
        elif given != ours:
            return False
    return True


# --- helpers -------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _walk_raw(items: Any) -> Iterator[dict[str, Any]]:
    """Every raw item dict of a Questionnaire, depth first, in document order."""
    stack = [item for item in reversed(_list(items)) if isinstance(item, dict)]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(
            child for child in reversed(_list(item.get("item"))) if isinstance(child, dict)
        )


def _at(pointer: str | None, step: str | int) -> str | None:
    return None if pointer is None else f"{pointer}/{step}"
