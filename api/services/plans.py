"""Intervention plans: drafted from scores, edited, approved into homework, followed up.

The rules (what to propose and why, goals, cadences, adherence, change) live
in `assessments.plans`; this module keeps plan versions and turns an approved
one into assignments:

- every activity, for each of its partners, on each day its cadence falls due
  from its start (or today, if later) to its end, answered with the built-in
  homework log;
- the plan's review date, a balance assessment for both partners;
- one portal link per partner, valid until their last homework is due plus
  the usual link lifetime.

Approving a later version supersedes the active one: its homework still
requested and due from today on, and its review, are cancelled (homework
already logged stays). Versions are never rewritten once approved; an edit
of an approved plan starts the next version as a draft.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from api.errors import Conflict, FieldProblem, InvalidInput, NotFound, PreconditionFailed
from api.services.assignments import portal_url, stamp_changes
from api.services.clients import couple_members
from api.services.instruments import resolve_instrument
from api.services.portal_links import issue_link
from api.services.reports import latest_balance, response_scores
from api.settings import Settings
from assessments.dyad import DIFFER_SHARE, PartnerScore, compare_partners
from assessments.interventions import load_library
from assessments.plans import (
    PARTNERS,
    Occurrence,
    adherence,
    draft_plan,
    due_dates,
    goals_for,
    targeted_change,
)
from schemas import (
    Assignment,
    AssignmentStatus,
    Plan,
    PlanStatus,
    PlanVersion,
    Response,
    ResponseStatus,
    Score,
)
from schemas.base import utcnow
from schemas.plan import (
    MAX_PLAN_DAYS,
    ActivityEdit,
    ActivityPublic,
    DraftRequest,
    PartnerAdherence,
    PlanActivity,
    PlanApproved,
    PlanEdit,
    PlanGoal,
    PlanPublic,
    PlanReview,
    PortalLinkFor,
    ScaleChange,
    VersionSummary,
)

HOMEWORK = "homework-log"
REVIEW = "balance-assessment"


def today_in(zone: str) -> date:
    """Today's date on the calendar of `zone` (the plan's time zone)."""
    return datetime.now(ZoneInfo(zone)).date()


def etag(version: PlanVersion) -> str:
    """The version's entity tag: it changes with every edit and with approval."""
    return f'"{version.plan_id}.{version.version}.{version.revision}"'


def draft(
    session: Session,
    couple_id: uuid.UUID,
    body: DraftRequest,
    differ_share: Decimal = DIFFER_SHARE,
) -> PlanVersion:
    """A draft plan from the partners' latest balance assessments; nothing is assigned."""
    members = couple_members(session, couple_id)
    latest = latest_balance(session, members)
    if all(found is None for found in latest.responses):
        raise Conflict(
            "neither partner has a scored balance assessment yet: assign one to both, "
            "and draft the plan from their scores"
        )
    scores = dict(zip(PARTNERS, latest.scores, strict=True))
    comparison = compare_partners(
        latest.definition, scores["first"], scores["second"], differ_share
    )
    proposals = draft_plan(
        load_library(), latest.definition, scores, comparison, body.max_activities
    )
    who = dict(zip(PARTNERS, members, strict=True))
    library = load_library()
    start = body.start or today_in(body.time_zone)
    end = start + timedelta(weeks=body.weeks) - timedelta(days=1)
    review = body.review_date or end
    if review < start:
        raise InvalidInput(
            "the review comes before the plan starts",
            [FieldProblem("/review_date", f"must be on or after the start, {start}")],
        )
    activities = [
        PlanActivity(
            activity_id=p.activity_id,
            title=p.title,
            who=library.activity(p.activity_id).who,
            partners=[who[partner] for partner in p.partners],
            cadence=p.cadence,
            start=start,
            end=end,
            reasons=list(p.reasons),
        )
        for p in proposals
    ]
    goals = [
        PlanGoal(
            client_id=who[g.partner],
            scale=g.scale,
            value=g.value,
            band=g.band,
            target_band=g.target_band,
            text=g.text,
        )
        for g in goals_for(latest.definition, proposals, scores)
    ]
    plan = Plan(couple_id=couple_id)
    version = PlanVersion(
        plan_id=plan.id,
        version=1,
        start=start,
        end=end,
        review_date=review,
        time_zone=body.time_zone,
        goals=[g.model_dump(mode="json") for g in goals],
        activities=[a.model_dump(mode="json") for a in activities],
        baseline={
            str(client_id): str(found[0]) if found else None
            for client_id, found in zip(members, latest.responses, strict=True)
        },
    )
    session.add(plan)
    session.flush()  # the plan exists before its version points at it
    session.add(version)
    session.flush()
    return version


def version_of(
    session: Session, plan_id: uuid.UUID, number: int | None = None, *, lock: bool = False
) -> PlanVersion:
    """A version of a plan (the latest when `number` is None), or NotFound.

    With `lock`, the plan's row is locked first, so edits and approvals of one
    plan take turns (and each sees what the one before it wrote)."""
    plan = session.get(Plan, plan_id, with_for_update=lock)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    wanted = plan.latest_version if number is None else number
    found = session.exec(
        select(PlanVersion).where(PlanVersion.plan_id == plan_id, PlanVersion.version == wanted)
    ).first()
    if found is None:
        raise NotFound(f"plan {plan_id} has no version {number}")
    return found


def _check_match(version: PlanVersion, if_match: str | None) -> None:
    if if_match is None:
        return
    tags = {tag.strip() for tag in if_match.split(",")}
    if "*" not in tags and etag(version) not in tags:
        raise PreconditionFailed(
            f"the plan changed since you read it (now {etag(version)}): read it and edit again"
        )


def edit(session: Session, plan_id: uuid.UUID, body: PlanEdit, if_match: str | None) -> PlanVersion:
    """Apply `body` to the latest version: in place on a draft; on an approved version, as
    the next version (a draft). Every problem is reported at once and nothing is kept."""
    current = version_of(session, plan_id, lock=True)
    _check_match(current, if_match)
    plan = session.get(Plan, plan_id)
    assert plan is not None
    members = couple_members(session, plan.couple_id)
    activities = {a["activity_id"]: dict(a) for a in current.activities}
    start = body.start or current.start
    end = body.end or current.end
    review = body.review_date if "review_date" in body.model_fields_set else current.review_date
    if "review_date" not in body.model_fields_set and review == current.end:
        review = end  # a review on the last day stays on the last day
    problems = _plan_problems(start, end, review)
    for index, name in enumerate(body.remove):
        if name not in activities:
            problems.append(FieldProblem(f"/remove/{index}", f"'{name}' is not in the plan"))
        activities.pop(name, None)
    for index, change in enumerate(body.change):
        where = f"/change/{index}"
        if change.activity_id not in activities:
            problems.append(
                FieldProblem(f"{where}/activity_id", f"'{change.activity_id}' is not in the plan")
            )
            continue
        activities[change.activity_id] |= _changed(change)
    library = load_library()
    for index, addition in enumerate(body.add):
        where = f"/add/{index}"
        try:
            activity = library.activity(addition.activity_id)
        except KeyError:
            problems.append(
                FieldProblem(f"{where}/activity_id", f"no activity '{addition.activity_id}'")
            )
            continue
        if addition.activity_id in activities:
            problems.append(FieldProblem(f"{where}/activity_id", "already in the plan"))
            continue
        activities[activity.id] = {
            "activity_id": activity.id,
            "title": activity.title,
            "who": activity.who,
            "partners": [str(m) for m in members],
            "cadence": activity.cadence,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "note": None,
            "reasons": [],
        } | _changed(addition)
    if not problems and (body.start or body.end):  # activities stay inside the period
        for activity in activities.values():
            activity["start"] = max(date.fromisoformat(activity["start"]), start).isoformat()
            activity["end"] = min(date.fromisoformat(activity["end"]), end).isoformat()
    if start <= end:
        problems += _activity_problems(list(activities.values()), members, start, end)
    if problems:
        raise InvalidInput("the plan cannot be changed so", problems)

    target = current
    if current.status != PlanStatus.DRAFT:
        plan.latest_version += 1
        target = PlanVersion(
            plan_id=plan.id,
            version=plan.latest_version,
            revision=0,
            start=current.start,
            end=current.end,
            goals=current.goals,
            baseline=current.baseline,
        )
        session.add(target)
    target.start, target.end, target.review_date = start, end, review
    target.time_zone = body.time_zone or current.time_zone
    if "note" in body.model_fields_set:
        target.note = body.note
    elif target is not current:
        target.note = current.note
    target.activities = [
        PlanActivity.model_validate(a).model_dump(mode="json") for a in activities.values()
    ]
    target.revision += 1
    target.updated_at = utcnow()
    session.flush()
    return target


def _changed(edit: ActivityEdit) -> dict[str, Any]:
    """The fields an edit sets; null clears the note and leaves the others as they are."""
    changes = edit.model_dump(mode="json", exclude_unset=True, exclude={"activity_id"})
    return {k: v for k, v in changes.items() if v is not None or k == "note"}


def _plan_problems(start: date, end: date, review: date | None) -> list[FieldProblem]:
    problems = []
    if end < start:
        problems.append(FieldProblem("/end", f"must be on or after the start, {start}"))
    elif (end - start).days >= MAX_PLAN_DAYS:
        problems.append(FieldProblem("/end", f"a plan runs at most {MAX_PLAN_DAYS} days"))
    elif review is not None and review < start:
        problems.append(FieldProblem("/review_date", f"must be on or after the start, {start}"))
    return problems


def _activity_problems(
    activities: list[dict[str, Any]], members: list[uuid.UUID], start: date, end: date
) -> list[FieldProblem]:
    problems = []
    couple = {str(m) for m in members}
    for activity in activities:
        where = f"/activities/{activity['activity_id']}"
        partners = {str(p) for p in activity["partners"]}
        if not partners <= couple:
            problems.append(FieldProblem(f"{where}/partners", "only the couple's partners"))
        elif activity["who"] == "together" and partners != couple:
            problems.append(
                FieldProblem(f"{where}/partners", "done together: it is homework for both")
            )
        first, last = date.fromisoformat(activity["start"]), date.fromisoformat(activity["end"])
        if first > last:
            problems.append(FieldProblem(f"{where}/end", "must be on or after its start"))
        if first < start or last > end:
            problems.append(
                FieldProblem(where, f"must run inside the plan's period, {start} to {end}")
            )
    return problems


def approve(
    session: Session,
    settings: Settings,
    plan_id: uuid.UUID,
    by: str,
    if_match: str | None,
) -> tuple[PlanVersion, list[PortalLinkFor], int]:
    """Approve the latest version: homework and review assigned, links issued."""
    version = version_of(session, plan_id, lock=True)
    _check_match(version, if_match)
    if version.status != PlanStatus.DRAFT:
        raise Conflict(
            f"version {version.version} is already {version.status}; edit the plan to "
            "make a new version"
        )
    today = today_in(version.time_zone)
    problems = []
    if not version.activities:
        problems.append(FieldProblem("/activities", "a plan needs at least one activity"))
    if version.end < today:
        problems.append(FieldProblem("/end", f"the plan ended before today, {today}"))
    if problems:
        raise InvalidInput("the plan cannot be approved yet", problems)
    plan = session.get(Plan, plan_id)
    assert plan is not None
    cancelled = _supersede(session, plan, today)
    homework = resolve_instrument(session, HOMEWORK)
    made: list[Assignment] = []
    for raw in version.activities:
        activity = PlanActivity.model_validate(raw)
        first = max(activity.start, today)
        for day in due_dates(activity.cadence, first, activity.end, time(0), version.time_zone):
            made.extend(
                Assignment(
                    client_id=client_id,
                    couple_id=plan.couple_id,
                    instrument_id=homework.id,
                    due=day.date(),
                    note=activity.note,
                    plan_id=plan.id,
                    plan_version=version.version,
                    activity_id=activity.activity_id,
                )
                for client_id in activity.partners
            )
    members = couple_members(session, plan.couple_id)
    if version.review_date is not None and version.review_date >= today:
        review = resolve_instrument(session, REVIEW)
        made.extend(
            Assignment(
                client_id=client_id,
                couple_id=plan.couple_id,
                instrument_id=review.id,
                due=version.review_date,
                note="Re-assessment for your plan",
                plan_id=plan.id,
                plan_version=version.version,
            )
            for client_id in members
        )
    session.add_all(made)
    session.flush()
    links = []
    for client_id in members:
        theirs = sorted((a for a in made if a.client_id == client_id), key=lambda a: a.due)
        if not theirs:
            continue
        days = (theirs[-1].due - today).days + settings.portal_link_days
        token, link = issue_link(session, theirs[0], days)
        links.append(
            PortalLinkFor(
                client_id=client_id,
                portal_url=portal_url(settings, token),
                expires_at=link.expires_at,
            )
        )
    stamp_changes(session, cancelled + made)
    version.status = PlanStatus.ACTIVE
    version.approved_at = utcnow()
    version.approved_by = by
    version.revision += 1
    version.updated_at = version.approved_at
    session.flush()
    return version, links, len(made)


def _supersede(session: Session, plan: Plan, today: date) -> list[Assignment]:
    """Retire the active version: its open homework from today on, and its open review."""
    active = session.exec(
        select(PlanVersion).where(
            PlanVersion.plan_id == plan.id, PlanVersion.status == PlanStatus.ACTIVE
        )
    ).all()
    cancelled: list[Assignment] = []
    for old in active:
        old.status = PlanStatus.SUPERSEDED
        old.updated_at = utcnow()
        for assignment in session.exec(
            select(Assignment).where(
                Assignment.plan_id == plan.id,
                Assignment.plan_version == old.version,
                Assignment.status == AssignmentStatus.REQUESTED,
                col(Assignment.due) >= today,
            )
        ):
            assignment.status = AssignmentStatus.CANCELLED
            assignment.updated_at = utcnow()
            cancelled.append(assignment)
    return cancelled


def public(session: Session, version: PlanVersion) -> PlanPublic:
    """The version as the counsellor reads it: adherence so far, and the review's change."""
    plan = session.get(Plan, version.plan_id)
    assert plan is not None
    today = today_in(version.time_zone)
    occurrences = _occurrences(session, plan.id)
    activities = []
    for raw in version.activities:
        activity = PlanActivity.model_validate(raw)
        activities.append(
            ActivityPublic(
                **activity.model_dump(),
                adherence=[
                    _adherence(client_id, occurrences[(activity.activity_id, client_id)], today)
                    for client_id in activity.partners
                ],
            )
        )
    versions = session.exec(
        select(PlanVersion).where(PlanVersion.plan_id == plan.id).order_by(PlanVersion.version)
    ).all()
    return PlanPublic(
        id=plan.id,
        couple_id=plan.couple_id,
        version=version.version,
        status=version.status,
        start=version.start,
        end=version.end,
        review_date=version.review_date,
        time_zone=version.time_zone,
        note=version.note,
        goals=[PlanGoal.model_validate(g) for g in version.goals],
        activities=activities,
        review=_review(session, plan, version, versions),
        versions=[
            VersionSummary(
                version=v.version,
                status=v.status,
                approved_at=v.approved_at,
                approved_by=v.approved_by,
            )
            for v in versions
        ],
        created_at=version.created_at,
        updated_at=version.updated_at,
        approved_at=version.approved_at,
        approved_by=version.approved_by,
    )


def _occurrences(
    session: Session, plan_id: uuid.UUID
) -> defaultdict[tuple[str, uuid.UUID], list[Occurrence]]:
    """Every piece of the plan's homework not cancelled, by activity and partner."""
    rows = session.exec(
        select(Assignment.activity_id, Assignment.client_id, Assignment.due, Score.value)
        .outerjoin(
            Response,
            (Response.assignment_id == Assignment.id)
            & (Response.status == ResponseStatus.COMPLETED),
        )
        .outerjoin(Score, (Score.response_id == Response.id) & (Score.scale == "done"))
        .where(
            Assignment.plan_id == plan_id,
            col(Assignment.activity_id).is_not(None),
            Assignment.status != AssignmentStatus.CANCELLED,
        )
    ).all()
    found: defaultdict[tuple[str, uuid.UUID], list[Occurrence]] = defaultdict(list)
    for activity_id, client_id, due, done in rows:
        found[(activity_id, client_id)].append(
            Occurrence(due=due, logged=done is not None, done=done == 1)
        )
    return found


def _adherence(
    client_id: uuid.UUID, occurrences: list[Occurrence], today: date
) -> PartnerAdherence:
    result = adherence(occurrences, today)
    return PartnerAdherence(
        client_id=client_id,
        expected=result.expected,
        logged=result.logged,
        done=result.done,
        rate=None if result.rate is None else round(float(result.rate), 4),
        upcoming=result.upcoming,
    )


def _review(
    session: Session, plan: Plan, version: PlanVersion, versions: list[PlanVersion]
) -> PlanReview | None:
    approved = [v.approved_at for v in versions if v.approved_at is not None]
    if not approved:
        return None
    assignments = session.exec(
        select(Assignment.id, Assignment.due).where(
            Assignment.plan_id == plan.id,
            col(Assignment.activity_id).is_(None),
            Assignment.status != AssignmentStatus.CANCELLED,
        )
    ).all()
    members = couple_members(session, plan.couple_id)
    after = latest_balance(session, members, after=min(approved))
    definition = after.definition
    baseline = {m: version.baseline.get(str(m)) for m in members}
    changes = []
    for client_id, found, now in zip(members, after.responses, after.scores, strict=True):
        before_id = baseline[client_id]
        if found is None or before_id is None:
            continue
        before: dict[str, PartnerScore] = response_scores(session, uuid.UUID(before_id))
        targeted = [g["scale"] for g in version.goals if g["client_id"] == str(client_id)]
        changes.extend(
            ScaleChange(
                client_id=client_id,
                scale=c.scale,
                before=float(c.before),
                after=float(c.after),
                difference=float(c.difference),
                rci=None if c.rci is None else float(c.rci),
                classification=c.classification,
                reason=c.reason,
            )
            for c in targeted_change(definition, targeted, before, now)
        )
    return PlanReview(
        due=max((due for _, due in assignments if due is not None), default=None),
        assignment_ids=[assignment_id for assignment_id, _ in assignments],
        baseline={str(m): uuid.UUID(b) if b else None for m, b in baseline.items()},
        latest={
            str(m): found[0] if found else None
            for m, found in zip(members, after.responses, strict=True)
        },
        changes=changes,
    )


def approved(
    session: Session, version: PlanVersion, links: list[PortalLinkFor], made: int
) -> PlanApproved:
    return PlanApproved(
        **public(session, version).model_dump(), portal_links=links, assignments_made=made
    )


def couple_plans(session: Session, couple_id: uuid.UUID) -> list[PlanPublic]:
    """Every plan of a couple, each at its latest version, newest first."""
    couple_members(session, couple_id)  # NotFound for another clinic's couple
    plans = session.exec(
        select(Plan).where(Plan.couple_id == couple_id).order_by(col(Plan.created_at).desc())
    ).all()
    return [public(session, version_of(session, plan.id)) for plan in plans]
