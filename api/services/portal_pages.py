"""What the portal's pages show, and turning what a page sends into a portal call.

The pages are a face of `api.services.portal`: every save, submission and
homework log goes through its functions (and so through the core's
validation); nothing here decides whether answers are acceptable. This
module reads what the pages show that the JSON API does not (finished work,
the client's own results and streak), builds the form for any Questionnaire
Tandem holds, reads a posted form back into a QuestionnaireResponse, and
places each problem the service reports next to the item it concerns.

What a client is shown of their own results is decided here, by
`TANDEM_PORTAL_CLIENT_RESULTS`: by default the weekly check-in's 0-10
self-rating only, and never a scale that uses a private item.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, select

import assessments
from api.errors import InvalidInput, NotFound
from api.i18n import N_, Translator, fhir_text
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, constant, scoped
from api.services import portal
from api.services.instruments import InstrumentKey, clinical_definition_of
from api.services.portal_links import PortalVisitor
from api.settings import Settings
from assessments.answers import answers_by_link_id, value_entry
from assessments.interventions import load_library
from assessments.plans import Occurrence
from assessments.questionnaire import (
    AnswerOption,
    ItemDefinition,
    QuestionnaireDefinition,
    codings_match,
)
from assessments.streaks import current_streak
from schemas import Assignment, AssignmentStatus, Instrument, Response, ResponseStatus, Score
from schemas.assignment import HomeworkLog, PortalAssignment
from schemas.base import utcnow

SOON_DAYS = 7  # open work due within this many days is listed under "to do"
DONE_LISTED = 10

_assignment = Assignment.__table__.c  # type: ignore[attr-defined]
_instrument = Instrument.__table__.c  # type: ignore[attr-defined]
_response = Response.__table__.c  # type: ignore[attr-defined]
_score = Score.__table__.c  # type: ignore[attr-defined]
_clinic = bindparam(CLINIC_PARAMETER)

_DONE = scoped(
    select(_assignment.id, _assignment.due, _assignment.activity_id, _instrument.title)
    .select_from(portal.WITH_INSTRUMENT)
    .where(
        _assignment.clinic_id == _clinic,
        _assignment.client_id == bindparam("client_id"),
        _assignment.status == AssignmentStatus.COMPLETED.value,
    )
    .order_by(_assignment.updated_at.desc(), _assignment.id)
    .limit(DONE_LISTED)
)
_OCCURRENCES = scoped(
    select(_assignment.due, _response.id.label("response_id"), _score.value)
    .select_from(
        Assignment.__table__.outerjoin(  # type: ignore[attr-defined]
            Response.__table__,  # type: ignore[attr-defined]
            (_response.clinic_id == _clinic)
            & (_response.assignment_id == _assignment.id)
            & (_response.status == constant(ResponseStatus.COMPLETED.value)),
        ).outerjoin(
            Score.__table__,  # type: ignore[attr-defined]
            (_score.clinic_id == _clinic)
            & (_score.response_id == _response.id)
            & (_score.scale == "done"),
        )
    )
    .where(
        _assignment.clinic_id == _clinic,
        _assignment.client_id == bindparam("client_id"),
        _assignment.activity_id == bindparam("activity_id"),
        _assignment.status != AssignmentStatus.CANCELLED.value,
        _assignment.due.is_not(None),
    )
)
_OWN_SCORES = scoped(
    select(_score.scale, _score.value, _score.min, _score.max, _score.band)
    .select_from(
        Response.__table__.join(  # type: ignore[attr-defined]
            Score.__table__,  # type: ignore[attr-defined]
            (_score.clinic_id == _clinic) & (_score.response_id == _response.id),
        )
    )
    .where(
        _response.clinic_id == _clinic,
        _response.assignment_id == bindparam("assignment_id"),
        _response.client_id == bindparam("client_id"),
        _response.status == constant(ResponseStatus.COMPLETED.value),
        _score.client_id == bindparam("client_id"),
    )
)


def today() -> date:
    """The portal's day (UTC)."""
    return utcnow().date()


# The list


@dataclass(frozen=True)
class ListEntry:
    """One piece of work in the client's list."""

    id: uuid.UUID
    title: str
    homework: bool
    due: date | None
    started: bool = False
    late: bool = False


@dataclass(frozen=True)
class HomeView:
    to_do: list[ListEntry]
    later: list[ListEntry]
    done: list[ListEntry]


async def home(connection: ClinicConnection, visitor: PortalVisitor, on: date) -> HomeView:
    """The client's open work (due within a week, then later) and what they finished lately."""
    open_work = await portal.open_assignments(connection, visitor)
    soon = on + timedelta(days=SOON_DAYS - 1)
    to_do, later = [], []
    for assignment in open_work:
        entry = _entry(assignment, on)
        (to_do if assignment.due is None or assignment.due <= soon else later).append(entry)
    rows = await connection.execute(_DONE, {"client_id": visitor.client_id})
    done = [
        ListEntry(
            id=row.id,
            title=_activity_title(row.activity_id) or row.title,
            homework=row.activity_id is not None,
            due=row.due,
        )
        for row in rows
    ]
    return HomeView(to_do=to_do, later=later, done=done)


def _entry(assignment: PortalAssignment, on: date) -> ListEntry:
    return ListEntry(
        id=assignment.id,
        title=assignment.title,
        homework=assignment.homework is not None,
        due=assignment.due,
        started=assignment.status == AssignmentStatus.IN_PROGRESS,
        late=assignment.due is not None and assignment.due < on,
    )


def _activity_title(activity_id: str | None) -> str | None:
    if activity_id is None:
        return None
    try:
        return load_library().activity(activity_id).title
    except KeyError:
        return None


# One assignment


@dataclass(frozen=True)
class Assigned:
    """One of the client's own assignments (not cancelled), with its instrument."""

    id: uuid.UUID
    status: AssignmentStatus
    due: date | None
    note: str | None
    activity_id: str | None
    key: InstrumentKey
    title: str

    @property
    def homework(self) -> bool:
        return self.activity_id is not None

    @property
    def completed(self) -> bool:
        return self.status == AssignmentStatus.COMPLETED


async def assigned(
    connection: ClinicConnection, visitor: PortalVisitor, assignment_id: uuid.UUID
) -> Assigned:
    """The client's own assignment, or NotFound (a partner's assignment is not found)."""
    row = await portal.own_assignment(connection, visitor.client_id, assignment_id)
    return Assigned(
        id=row.id,
        status=AssignmentStatus(row.status),
        due=row.due,
        note=row.note,
        activity_id=row.activity_id,
        key=InstrumentKey.of_columns(row),
        title=_activity_title(row.activity_id) or row.title,
    )


# The questionnaire form


@dataclass
class Choice:
    id: str
    value: str
    label: str
    checked: bool = False


@dataclass
class FormItem:
    """One item of the form as a page renders it.

    `kind` is group, display, radio, checkbox, open-choice, integer, decimal,
    string, text, date, time, url, or unsupported (attachments, references,
    quantities, and choices from a ValueSet: answered with the counsellor).
    """

    link_id: str
    field_id: str
    kind: str
    text: str
    prefix: str | None
    required: bool
    depth: int
    choices: list[Choice] = field(default_factory=list)
    value: str = ""
    other: str = ""
    other_checked: bool = False
    hint: str | None = None
    condition: str | None = None
    enable_when: str | None = None
    enable_behavior: str = "all"
    max_length: int | None = None
    errors: list[str] = field(default_factory=list)
    children: list[FormItem] = field(default_factory=list)

    @property
    def focus_id(self) -> str:
        """The element a link to this item lands on: its first input."""
        if self.kind in ("radio", "checkbox", "open-choice") and self.choices:
            return self.choices[0].id
        if self.kind == "group":
            return next((child.focus_id for child in self.children if child.answerable), "")
        return self.field_id

    @property
    def answerable(self) -> bool:
        return self.kind not in ("display", "unsupported") and (
            self.kind != "group" or any(child.answerable for child in self.children)
        )

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.prefix, self.text) if part)

    @property
    def described_by(self) -> str:
        """The ids of the hint, condition and error messages that describe the item."""
        ids = [f"{self.field_id}-hint"] if self.hint else []
        ids += [f"{self.field_id}-when"] if self.condition else []
        ids += [
            f"{self.field_id}-error" + ("" if n == 1 else f"-{n}")
            for n in range(1, len(self.errors) + 1)
        ]
        return " ".join(ids)


@dataclass(frozen=True)
class SummaryEntry:
    """A line of the error summary: the problem, linking to the item's first input."""

    target: str
    label: str
    message: str


@dataclass
class QuestionnaireForm:
    """A questionnaire page: the items with their answers so far, and any problems."""

    assignment: Assigned
    title: str
    items: list[FormItem]
    summary: list[SummaryEntry] = field(default_factory=list)
    resume: str | None = None
    saved: bool = False

    def walk(self) -> Iterable[FormItem]:
        stack = list(reversed(self.items))
        while stack:
            item = stack.pop()
            yield item
            stack.extend(reversed(item.children))


class FormRefused(Exception):
    """A posted form that the service refused: the page again, with every problem placed."""

    def __init__(self, page: QuestionnaireForm) -> None:
        super().__init__("the answers have problems")
        self.page = page


Form = Mapping[str, list[str]]

_SUPPORTED = {
    "boolean": "radio",
    "integer": "integer",
    "decimal": "decimal",
    "string": "string",
    "text": "text",
    "date": "date",
    "dateTime": "date",
    "time": "time",
    "url": "url",
}


def field_ids(definition: QuestionnaireDefinition) -> dict[str, str]:
    """Each item's field id (`q0`, `q1`, ... in document order): names and ids in the page."""
    return {item.link_id: f"q{index}" for index, item in enumerate(definition.walk())}


def _kind(item: ItemDefinition) -> str:
    if item.type in ("group", "display"):
        return item.type
    if item.type == "choice":
        if not item.options:
            return "unsupported"
        return "checkbox" if item.repeats else "radio"
    if item.type == "open-choice":
        if not item.options:
            return "string"
        return "checkbox" if item.repeats else "open-choice"
    return _SUPPORTED.get(item.type, "unsupported")


async def questionnaire_form(
    connection: ClinicConnection,
    visitor: PortalVisitor,
    assignment: Assigned,
    translator: Translator,
) -> QuestionnaireForm:
    """The questionnaire page of an open assignment, with the answers saved so far."""
    found = await portal.questionnaire_for(connection, visitor, assignment.id)
    instrument = await clinical_definition_of(connection, assignment.key)
    saved = found.saved_response or {}
    page = _form(instrument, found.questionnaire, assignment, saved, {}, translator)
    if found.saved_response is not None:
        page.resume = _first_unanswered(page, answers_by_link_id(saved.get("item")))
    return page


def _form(
    instrument: assessments.Instrument,
    questionnaire: dict[str, Any],
    assignment: Assigned,
    document: dict[str, Any],
    typed: dict[str, str],
    translator: Translator,
) -> QuestionnaireForm:
    definition = instrument.definition
    ids = field_ids(definition)
    raw_items = {
        link_id: raw for link_id, raw in _raw_items(questionnaire.get("item")) if link_id in ids
    }
    answers = answers_by_link_id(document.get("item"))
    builder = _Builder(definition, ids, raw_items, answers, typed, translator)
    title = fhir_text(questionnaire, "title", translator.language) or assignment.title
    return QuestionnaireForm(
        assignment=assignment,
        title=title,
        items=[builder.item(item, 0) for item in definition.items],
    )


def _raw_items(items: Any) -> Iterable[tuple[str, dict[str, Any]]]:
    for raw in items if isinstance(items, list) else ():
        if isinstance(raw, dict) and isinstance(raw.get("linkId"), str):
            yield raw["linkId"], raw
            yield from _raw_items(raw.get("item"))


@dataclass
class _Builder:
    definition: QuestionnaireDefinition
    ids: dict[str, str]
    raw: dict[str, dict[str, Any]]
    answers: dict[str, list[dict[str, Any]]]
    typed: dict[str, str]
    translator: Translator

    def item(self, item: ItemDefinition, depth: int) -> FormItem:
        raw = self.raw.get(item.link_id, {})
        language = self.translator.language
        fid = self.ids[item.link_id]
        form_item = FormItem(
            link_id=item.link_id,
            field_id=fid,
            kind=_kind(item),
            text=fhir_text(raw, "text", language) or "",
            prefix=fhir_text(raw, "prefix", language),
            required=item.required,
            depth=depth,
            enable_behavior=item.enable_behavior,
            max_length=item.max_length,
        )
        if item.enable_when:
            form_item.enable_when = json.dumps(self.conditions(item), separators=(",", ":"))
            form_item.condition = self.condition_hint(item)
        self.fill(item, raw, form_item)
        form_item.children = [self.item(child, depth + 1) for child in item.children]
        return form_item

    def fill(self, item: ItemDefinition, raw: dict[str, Any], form_item: FormItem) -> None:
        """The item's choices, hint and current answer."""
        gettext = self.translator.gettext
        answers = [entry for a in self.answers.get(item.link_id, []) if (entry := value_entry(a))]
        fid = form_item.field_id
        if item.type == "boolean":
            given = {value for key, value in answers if key == "valueBoolean"}
            form_item.choices = [
                Choice(f"{fid}-0", "true", gettext("Yes"), True in given),
                Choice(f"{fid}-1", "false", gettext("No"), False in given),
            ]
        elif form_item.kind in ("radio", "checkbox", "open-choice"):
            options = [o for o in _list(raw.get("answerOption")) if value_entry(o)]
            form_item.choices = [
                Choice(
                    f"{fid}-{index}",
                    str(index),
                    self.option_label(options[index] if index < len(options) else {}, option),
                    any(option.matches(key, value) for key, value in answers),
                )
                for index, option in enumerate(item.options)
            ]
            if item.type == "open-choice":
                own = [
                    value
                    for key, value in answers
                    if key == "valueString" and item.option_for(key, value) is None
                ]
                form_item.other_checked = bool(own)
                form_item.other = own[0] if own else ""
        elif form_item.kind not in ("group", "display", "unsupported") and answers:
            value = answers[0][1]
            # what the page's time and date inputs take: hh:mm, and the day of a dateTime
            cut = {"time": 5, "dateTime": 10}.get(item.type)
            form_item.value = _text(value)[:cut] if cut else _text(value)
        if fid in self.typed:
            form_item.value = self.typed[fid]
        form_item.hint = self.hint(item, form_item.kind)

    def option_label(self, raw_option: dict[str, Any], option: AnswerOption) -> str:
        language = self.translator.language
        if option.value_key == "valueCoding":
            coding = raw_option.get("valueCoding") if isinstance(raw_option, dict) else None
            label = fhir_text(coding, "display", language) if isinstance(coding, dict) else None
            return label or str(option.value.get("display") or option.value.get("code"))
        if option.value_key == "valueString":
            return fhir_text(raw_option, "valueString", language) or str(option.value)
        return _text(option.value)

    def hint(self, item: ItemDefinition, kind: str) -> str | None:
        gettext = self.translator.gettext
        low, high = item.min_value, item.max_value
        if kind == "integer" and low is not None and high is not None:
            return gettext("A whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
        if kind == "integer":
            return gettext("A whole number.")
        if kind == "decimal" and low is not None and high is not None:
            return gettext("A number from %(low)s to %(high)s.") % {"low": low, "high": high}
        if kind == "checkbox":
            return gettext("Choose all that apply.")
        if kind in ("string", "text") and item.max_length is not None:
            return self.translator.ngettext(
                "Up to %(num)d character.", "Up to %(num)d characters.", item.max_length
            ) % {"num": item.max_length}
        if kind == "unsupported":
            return gettext("This question cannot be answered here; your counsellor will ask you.")
        return None

    def conditions(self, item: ItemDefinition) -> list[dict[str, Any]]:
        """The item's enableWhen for the page's script, in terms of the page's inputs."""
        found = []
        for condition in item.enable_when:
            target = self.definition.by_link_id[condition.question]
            value: Any = condition.answer
            kind = "text"
            if condition.operator == "exists":
                kind = "exists"
            elif target.options:
                key = "value" + condition.answer_key.removeprefix("answer")
                index = next(
                    (
                        i
                        for i, option in enumerate(target.options)
                        if option.value_key == key
                        and (
                            codings_match(condition.answer, option.value)
                            if key == "valueCoding"
                            else option.value == condition.answer
                        )
                    ),
                    None,
                )
                kind, value = "option", None if index is None else str(index)
                if index is None and key == "valueString":
                    kind, value = "text", condition.answer
            elif condition.answer_key == "answerBoolean":
                kind, value = "option", "true" if condition.answer is True else "false"
            elif condition.answer_key in ("answerInteger", "answerDecimal"):
                kind = "number"
            elif condition.answer_key not in ("answerString", "answerDate", "answerDateTime"):
                kind = "unknown"
            found.append(
                {"q": self.ids[condition.question], "op": condition.operator, "kind": kind,
                 "value": value}
            )  # fmt: skip
        return found

    def condition_hint(self, item: ItemDefinition) -> str:
        """For pages without script: when the item applies, in words where that is simple."""
        gettext = self.translator.gettext
        if len(item.enable_when) == 1 and item.enable_when[0].operator == "=":
            condition = item.enable_when[0]
            target = self.definition.by_link_id[condition.question]
            raw = self.raw.get(target.link_id, {})
            question = fhir_text(raw, "text", self.translator.language) or target.link_id
            answer = None
            if condition.answer_key == "answerBoolean":
                answer = gettext("Yes") if condition.answer is True else gettext("No")
            else:
                key = "value" + condition.answer_key.removeprefix("answer")
                options = [o for o in _list(raw.get("answerOption")) if value_entry(o)]
                for index, option in enumerate(target.options):
                    matched = (
                        codings_match(condition.answer, option.value)
                        if key == "valueCoding"
                        else option.value == condition.answer
                    )
                    if option.value_key == key and matched:
                        raw_option = options[index] if index < len(options) else {}
                        answer = self.option_label(raw_option, option)
                        break
            if answer is not None:
                return gettext(
                    "This applies only if you answered “%(answer)s” to “%(question)s”."
                ) % {
                    "answer": answer,
                    "question": question,
                }
        return gettext("This applies only to some answers above.")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _first_unanswered(page: QuestionnaireForm, answers: Mapping[str, Any]) -> str | None:
    """Where a returning client picks up: the first question not answered yet."""
    for item in page.walk():
        if item.kind not in ("group", "display", "unsupported") and item.link_id not in answers:
            return item.focus_id
    return None


# Reading a posted form back


@dataclass
class _Reading:
    """A form read into a QuestionnaireResponse: where each item went, and what could not
    be read (text where a number was asked: the text is kept to show again)."""

    definition: QuestionnaireDefinition
    ids: dict[str, str]
    form: Form
    pointers: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # link_id -> problem code
    typed: dict[str, str] = field(default_factory=dict)  # field id -> what was typed

    def items(self, definitions: tuple[ItemDefinition, ...], pointer: str) -> list[dict]:
        built: list[dict[str, Any]] = []
        for item in definitions:
            if item.type == "display":
                continue
            where = f"{pointer}/{len(built)}"
            answers = [] if item.type == "group" else self.answers(item)
            children = self.items(item.children, f"{where}/item")
            if not answers and not children:
                continue
            entry: dict[str, Any] = {"linkId": item.link_id}
            if answers:
                entry["answer"] = answers
            if children:
                entry["item"] = children
            self.pointers[where] = item.link_id
            built.append(entry)
        return built

    def answers(self, item: ItemDefinition) -> list[dict[str, Any]]:
        name = self.ids[item.link_id]
        given = [value for value in self.form.get(name, []) if isinstance(value, str)]
        kind = _kind(item)
        if item.type == "boolean":
            chosen = [value for value in given[:1] if value in ("true", "false")]
            return [{"valueBoolean": value == "true"} for value in chosen]
        if kind in ("radio", "checkbox", "open-choice"):
            found = []
            for value in given:
                if value == "other" and kind == "open-choice":
                    own = _clean(self.form.get(f"{name}-other", [""])[0])
                    if own:
                        found.append({"valueString": own})
                    continue
                if value.isdigit() and int(value) < len(item.options):
                    option = item.options[int(value)]
                    answer = option.value
                    if option.value_key == "valueCoding":
                        answer = {k: v for k, v in option.value.items() if k in _CODING}
                    found.append({option.value_key: answer})
                elif value:
                    self.unreadable[item.link_id] = "not-an-option"
            return found
        text = _clean(given[0]) if given else ""
        if not text or kind == "unsupported":
            return []
        if kind == "integer":
            try:
                return [{"valueInteger": int(text.replace(" ", ""))}]
            except ValueError:
                return self.cannot_read(item, name, text)
        if kind == "decimal":
            try:
                number = Decimal(text.replace(" ", "").replace(",", "."))
            except InvalidOperation:
                return self.cannot_read(item, name, text)
            if not number.is_finite():
                return self.cannot_read(item, name, text)
            whole = number == number.to_integral_value() and "." not in text and "," not in text
            return [{"valueDecimal": int(number) if whole else float(number)}]
        if kind == "time":
            return [{"valueTime": text if len(text) > 5 else f"{text}:00"}]
        if kind == "date":
            return [{"valueDateTime" if item.type == "dateTime" else "valueDate": text}]
        if kind == "url":
            return [{"valueUri": text}]
        return [{"valueString": text}]

    def cannot_read(self, item: ItemDefinition, name: str, text: str) -> list[dict[str, Any]]:
        self.unreadable[item.link_id] = "wrong-type"
        self.typed[name] = text
        return []


_CODING = ("system", "version", "code", "display")


def _clean(text: str) -> str:
    """A text answer as FHIR keeps it: line ends as LF, no surrounding space."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def read_form(
    definition: QuestionnaireDefinition, form: Form, status: ResponseStatus
) -> tuple[dict[str, Any], _Reading]:
    """The QuestionnaireResponse a posted form says, with the record of where each item went."""
    reading = _Reading(definition, field_ids(definition), form)
    document = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": definition.canonical,
        "status": status.value,
        "authored": utcnow().isoformat(),
        "item": reading.items(definition.items, "/item"),
    }
    return document, reading


async def send_form(
    connection: ClinicConnection,
    visitor: PortalVisitor,
    assignment: Assigned,
    form: Form,
    status: ResponseStatus,
    translator: Translator,
) -> None:
    """Save (in-progress) or submit (completed) a posted questionnaire form through the
    portal service; `FormRefused` with the page and every problem placed when refused.

    Text that cannot be read as the number or option asked for is a problem
    too: then nothing is sent, and the core's validation of the rest is shown
    with it, so the client sees every problem at once."""
    instrument = await clinical_definition_of(connection, assignment.key)
    document, reading = read_form(instrument.definition, form, status)
    if reading.unreadable:
        problems = [
            (p.location, p.code, p.link_id)
            for p in assessments.validate_response(instrument.definition, document)
        ]
        problems.extend((None, code, link_id) for link_id, code in reading.unreadable.items())
    else:
        try:
            if status == ResponseStatus.COMPLETED:
                await portal.submit(connection, visitor, assignment.id, document)
            else:
                await portal.save_progress(connection, visitor, assignment.id, document)
            return
        except InvalidInput as refusal:
            problems = _placed(instrument.definition, document, reading, refusal)
    questionnaire = (
        await portal.questionnaire_for(connection, visitor, assignment.id)
    ).questionnaire
    page = _form(instrument, questionnaire, assignment, document, reading.typed, translator)
    _show_problems(page, instrument.definition, problems, translator)
    raise FormRefused(page)


async def autosave(
    connection: ClinicConnection,
    visitor: PortalVisitor,
    assignment: Assigned,
    form: Form,
) -> bool:
    """Keep what a client typed when they leave the page (in-progress): answers the service
    refuses are left out and the rest saved, since no one is there to read a message.
    Returns whether anything was saved."""
    if assignment.completed or assignment.homework:
        return False
    instrument = await clinical_definition_of(connection, assignment.key)
    document, reading = read_form(instrument.definition, form, ResponseStatus.IN_PROGRESS)
    for _ in range(2):
        try:
            await portal.save_progress(connection, visitor, assignment.id, document)
            return True
        except InvalidInput as refusal:
            refused = {link_id for _, _, link_id in _placed(
                instrument.definition, document, reading, refusal) if link_id}  # fmt: skip
            if not refused:
                return False
            document["item"] = _without(document["item"], refused)
    return False


def _without(items: list[dict[str, Any]], link_ids: set[str]) -> list[dict[str, Any]]:
    kept = []
    for item in items:
        if item["linkId"] in link_ids:
            continue
        copy = dict(item)
        if "item" in copy:
            copy["item"] = _without(copy["item"], link_ids)
            if not copy["item"]:
                del copy["item"]
        if "answer" in copy or "item" in copy:
            kept.append(copy)
    return kept


def _placed(
    definition: QuestionnaireDefinition,
    document: dict[str, Any],
    reading: _Reading,
    refusal: InvalidInput,
) -> list[tuple[str | None, str | None, str | None]]:
    """Each problem the service reported, with the linkId it concerns: the core's own
    problem at that place names it, else the item the pointer falls in."""
    core = {
        (p.location, p.code, p.message): p.link_id
        for p in assessments.validate_response(definition, document)
        if p.link_id
    }
    placed = []
    for problem in refusal.errors:
        link_id = core.get((problem.pointer or "", problem.code, problem.detail))
        if link_id is None and problem.pointer:
            link_id = _item_at(problem.pointer, reading.pointers)
        placed.append((problem.pointer, problem.code, link_id))
    return placed


def _item_at(pointer: str, pointers: Mapping[str, str]) -> str | None:
    """The innermost item whose place in the response holds `pointer`."""
    parts = pointer.split("/")
    for end in range(len(parts), 1, -1):
        found = pointers.get("/".join(parts[:end]))
        if found is not None:
            return found
    return None


_MESSAGES = {
    "required": N_("Answer this question."),
    "not-an-option": N_("Choose one of the options."),
    "too-many-answers": N_("Choose only one answer."),
    "not-enabled": N_(
        "This question does not apply, given your other answers. Clear your answer to it."
    ),
    "invalid-text": N_("Remove the unusual characters from this answer."),
}


def _message(code: str | None, item: ItemDefinition | None, translator: Translator) -> str:
    """What a problem means for the client, in their language (the core's own messages
    are for integrators)."""
    gettext = translator.gettext
    if item is None:
        return gettext("Something in your answers could not be saved. Please try again.")
    kind = _kind(item)
    if code == "required" and item.type == "group":
        return gettext("Answer at least one question in this part.")
    if code in ("wrong-type", "out-of-range") and kind in ("integer", "decimal"):
        low, high = item.min_value, item.max_value
        whole = kind == "integer"
        if low is not None and high is not None:
            text = (
                gettext("Enter a whole number from %(low)s to %(high)s.")
                if whole
                else gettext("Enter a number from %(low)s to %(high)s.")
            )
            return text % {"low": low, "high": high}
        if low is not None:
            return gettext("Enter a number of at least %(low)s.") % {"low": low}
        if high is not None:
            return gettext("Enter a number of at most %(high)s.") % {"high": high}
        return gettext("Enter a whole number.") if whole else gettext("Enter a number.")
    if code in ("wrong-type", "out-of-range") and kind in ("date", "time"):
        return (
            gettext("Enter a real date, for example 2026-11-29.")
            if kind == "date"
            else (gettext("Enter a time, for example 09:30."))
        )
    if code == "too-long" and item.max_length is not None:
        return translator.ngettext(
            "Use at most %(num)d character.", "Use at most %(num)d characters.", item.max_length
        ) % {"num": item.max_length}
    if code == "too-short" and item.min_length is not None:
        return translator.ngettext(
            "Use at least %(num)d character.", "Use at least %(num)d characters.", item.min_length
        ) % {"num": item.min_length}
    if code == "too-many-decimals" and item.max_decimal_places is not None:
        return translator.ngettext(
            "Use at most %(num)d decimal place.",
            "Use at most %(num)d decimal places.",
            item.max_decimal_places,
        ) % {"num": item.max_decimal_places}
    if code in _MESSAGES:
        return gettext(_MESSAGES[code])
    return gettext("Check this answer.")


def _show_problems(
    page: QuestionnaireForm,
    definition: QuestionnaireDefinition,
    problems: list[tuple[str | None, str | None, str | None]],
    translator: Translator,
) -> None:
    """Put each problem next to its item and in the summary, in the items' order."""
    items = {item.link_id: item for item in page.walk()}
    general = []
    for _, code, link_id in problems:
        item = items.get(link_id) if link_id else None
        message = _message(code, definition.by_link_id.get(link_id or ""), translator)
        if item is None:
            if message not in general:
                general.append(message)
        elif message not in item.errors:
            item.errors.append(message)
    for item in page.walk():
        for message in item.errors:
            label = item.label or translator.gettext("A question")
            page.summary.append(
                SummaryEntry(item.focus_id or item.field_id, _short(label), message)
            )
    page.summary.extend(SummaryEntry("", "", message) for message in general)


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Homework


@dataclass
class HomeworkPage:
    assignment: Assigned
    title: str
    instructions: str
    together: bool
    note: str | None
    log_minutes: bool
    log_reflection: bool
    streak: int
    done: str = ""
    minutes: str = ""
    reflection: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> list[SummaryEntry]:
        targets = {"done": "done-yes", "minutes": "minutes", "reflection": "reflection"}
        labels = {"done": N_("Did you do it?"), "minutes": N_("Minutes"),
                  "reflection": N_("What you noticed")}  # fmt: skip
        return [
            SummaryEntry(targets[name], labels[name], message)
            for name, message in self.errors.items()
        ]


class LogRefused(Exception):
    """A homework log that could not be taken: the page again, with the problems."""

    def __init__(self, page: HomeworkPage) -> None:
        super().__init__("the log has problems")
        self.page = page


async def homework_page(
    connection: ClinicConnection, visitor: PortalVisitor, assignment: Assigned, on: date
) -> HomeworkPage:
    """An open piece of homework: what to do, the counsellor's note, and the client's streak."""
    mine = next(
        (a for a in await portal.open_assignments(connection, visitor) if a.id == assignment.id),
        None,
    )
    if mine is None or mine.homework is None:
        raise NotFound("no such homework open for you")
    homework = mine.homework
    return HomeworkPage(
        assignment=assignment,
        title=homework.title,
        instructions=homework.instructions,
        together=homework.who == "together",
        note=homework.note,
        log_minutes=homework.log_minutes,
        log_reflection=homework.log_reflection,
        streak=await streak(connection, visitor, homework.activity_id, on),
    )


async def streak(
    connection: ClinicConnection, visitor: PortalVisitor, activity_id: str, on: date
) -> int:
    """The client's own streak on an activity, over all their homework for it."""
    rows = await connection.execute(
        _OCCURRENCES, {"client_id": visitor.client_id, "activity_id": activity_id}
    )
    return current_streak(
        (
            Occurrence(due=row.due, logged=row.response_id is not None, done=row.value == 1)
            for row in rows
        ),
        on,
    )


async def log_homework(
    connection: ClinicConnection,
    visitor: PortalVisitor,
    assignment: Assigned,
    form: Form,
    on: date,
    translator: Translator,
) -> None:
    """Log a piece of homework from its page's form through the portal service;
    `LogRefused` with the page and its problems when the form cannot be taken."""
    page = await homework_page(connection, visitor, assignment, on)
    gettext = translator.gettext
    page.done = _first(form, "done")
    page.minutes = _first(form, "minutes").strip() if page.log_minutes else ""
    page.reflection = _clean(_first(form, "reflection")) if page.log_reflection else ""
    if page.done not in ("yes", "no"):
        page.errors["done"] = gettext("Say whether you did it.")
    minutes: int | None = None
    if page.minutes:
        try:
            minutes = int(page.minutes)
        except ValueError:
            page.errors["minutes"] = gettext("Enter the minutes as a whole number.")
    if not page.errors:
        try:
            log = HomeworkLog(
                done=page.done == "yes", minutes=minutes, reflection=page.reflection or None
            )
        except ValidationError as error:
            for problem in error.errors():
                where = str(problem["loc"][0]) if problem["loc"] else "done"
                page.errors[where] = {
                    "minutes": gettext("Enter a whole number from 0 to 1440."),
                    "reflection": gettext(
                        "Use at most 4000 characters, without unusual characters."
                    ),
                }.get(where, gettext("Check this answer."))
    if page.errors:
        raise LogRefused(page)
    await portal.log_homework(connection, visitor, assignment.id, log)


def _first(form: Form, name: str) -> str:
    values = [value for value in form.get(name, []) if isinstance(value, str)]
    return values[0] if values else ""


# After finishing


@dataclass(frozen=True)
class OwnResult:
    """One of the client's own scores, in plain words."""

    label: str
    value: str
    low: str
    high: str
    band: str | None
    interpretation: str | None


@dataclass(frozen=True)
class ThanksView:
    assignment: Assigned
    results: list[OwnResult]
    streak: int | None


async def thanks(
    connection: ClinicConnection,
    visitor: PortalVisitor,
    assignment: Assigned,
    settings: Settings,
    on: date,
) -> ThanksView:
    """What a client sees after finishing: their streak for homework; for a questionnaire,
    the results of theirs that the instrument lets clients see."""
    if assignment.homework:
        assert assignment.activity_id is not None
        return ThanksView(
            assignment, [], await streak(connection, visitor, assignment.activity_id, on)
        )
    instrument = await clinical_definition_of(connection, assignment.key)
    shown = client_visible_scales(instrument, settings)
    if not shown:
        return ThanksView(assignment, [], None)
    rows = await connection.execute(
        _OWN_SCORES, {"assignment_id": assignment.id, "client_id": visitor.client_id}
    )
    scales = {scale.code: scale for scale in instrument.scoring.scales}
    results = []
    for row in sorted(rows, key=lambda r: shown.index(r.scale) if r.scale in shown else 0):
        if row.scale not in shown or row.value is None:
            continue
        scale = scales[row.scale]
        band = next((b for b in scale.bands if b.code == row.band), None)
        results.append(
            OwnResult(
                label=scale.label,
                value=_number(row.value, scale.decimals),
                low=_number(row.min, scale.decimals),
                high=_number(row.max, scale.decimals),
                band=band.label if band else None,
                interpretation=band.interpretation if band else None,
            )
        )
    return ThanksView(assignment, results, None)


def client_visible_scales(instrument: assessments.Instrument, settings: Settings) -> list[str]:
    """The scales of `instrument` a client is shown of their own results: those
    `TANDEM_PORTAL_CLIENT_RESULTS` names for its url, less any that uses a private item
    (directly or through the scales it is made of)."""
    wanted = settings.portal_client_results.get(instrument.url, [])
    private = set(instrument.scoring.private_items)
    scales = {scale.code: scale for scale in instrument.scoring.scales}

    def items_of(code: str, seen: frozenset[str] = frozenset()) -> set[str]:
        scale = scales[code]
        found = set(scale.items)
        for part in scale.scales:
            if part in scales and part not in seen:
                found |= items_of(part, seen | {code})
        return found

    return [code for code in wanted if code in scales and not items_of(code) & private]


def _number(value: float, decimals: int) -> str:
    return f"{Decimal(str(value)):.{decimals}f}"
