"""A plan version as a FHIR R4 CarePlan, checked with fhir.resources before it leaves.

- `status`: draft -> draft, active -> active, superseded -> revoked (a later
  version replaced it); `intent`: a draft is a proposal, an approved one a plan.
- `subject` is the couple (`Group`); `meta.versionId` is the plan's version.
- Goals are contained `Goal` resources, one per partner and targeted scale,
  with the band aimed at in words.
- Each activity's `detail`: the library activity (`code`, with Tandem's
  activity code system), its instructions, the partners as performers, its
  cadence as a `Timing` bounded by the activity's dates, the reasons it was
  proposed, the goals it serves (its partners' goals on the scales it
  addresses), and adherence so far as a
  `progress` note per partner (done, of due so far).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.careplan import CarePlan

from assessments.interventions import load_library
from schemas.plan import ActivityPublic, PlanPublic, PlanStatus

ACTIVITY_SYSTEM = "https://tandem.dev/fhir/CodeSystem/intervention"
CATEGORY_SYSTEM = "https://tandem.dev/fhir/CodeSystem/plan-category"
CATEGORY = {"system": CATEGORY_SYSTEM, "code": "couple-plan", "display": "Couple intervention plan"}
_STATUS = {
    PlanStatus.DRAFT: "draft",
    PlanStatus.ACTIVE: "active",
    PlanStatus.SUPERSEDED: "revoked",
}
_TIMING = {
    "daily": {"frequency": 1, "period": 1, "periodUnit": "d"},
    "weekly": {"frequency": 1, "period": 1, "periodUnit": "wk"},
    "monthly": {"frequency": 1, "period": 1, "periodUnit": "mo"},
    "once": {"count": 1},
}


def care_plan(plan: PlanPublic, tasks: Sequence[uuid.UUID] = ()) -> dict[str, Any]:
    """The plan version as a CarePlan (JSON), validated; `tasks` are the assignments its
    approval made, each listed as an activity referring to its Task."""
    goals = [
        {
            "resourceType": "Goal",
            "id": f"goal-{index}",
            "lifecycleStatus": "active" if plan.status == PlanStatus.ACTIVE else "proposed",
            "description": {"text": goal.text},
            "subject": {"reference": f"Patient/{goal.client_id}"},
        }
        for index, goal in enumerate(plan.goals, 1)
    ]
    goal_ids = {
        (str(goal.client_id), goal.scale): f"#goal-{index}"
        for index, goal in enumerate(plan.goals, 1)
    }
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": str(plan.id),
        "meta": {"versionId": str(plan.version), "lastUpdated": plan.updated_at.isoformat()},
        "status": _STATUS[plan.status],
        "intent": "proposal" if plan.status == PlanStatus.DRAFT else "plan",
        "title": "Couple plan",
        "subject": {"reference": f"Group/{plan.couple_id}"},
        "period": {"start": plan.start.isoformat(), "end": plan.end.isoformat()},
        "created": plan.created_at.isoformat(),
        "goal": [{"reference": f"#{goal['id']}"} for goal in goals],
        "category": [{"coding": [CATEGORY]}],
        "activity": [_activity(activity, goal_ids, plan) for activity in plan.activities]
        + [{"reference": {"reference": f"Task/{task}"}} for task in tasks],
    }
    if goals:
        resource["contained"] = goals
    if plan.note:
        resource["note"] = [{"text": plan.note}]
    return CarePlan.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _activity(
    activity: ActivityPublic, goal_ids: dict[tuple[str, str], str], plan: PlanPublic
) -> dict[str, Any]:
    library = load_library().activity(activity.activity_id)
    partners = {str(p) for p in activity.partners}
    scales = {indication.scale for indication in library.addresses if indication.scale}
    bounds = {
        "start": (activity.start or plan.start).isoformat(),
        "end": (activity.end or plan.end).isoformat(),
    }
    detail: dict[str, Any] = {
        "kind": "Task",
        "code": {
            "coding": [
                {"system": ACTIVITY_SYSTEM, "code": activity.activity_id, "display": activity.title}
            ],
            "text": activity.title,
        },
        "status": "in-progress" if plan.status == PlanStatus.ACTIVE else "not-started",
        "description": library.instructions,
        "performer": [{"reference": f"Patient/{p}"} for p in activity.partners],
        "scheduledTiming": {"repeat": _TIMING[activity.cadence] | {"boundsPeriod": bounds}},
        "goal": [
            {"reference": reference}
            for (client_id, scale), reference in goal_ids.items()
            if client_id in partners and scale in scales
        ],
    }
    if activity.reasons:
        detail["reasonCode"] = [{"text": reason} for reason in activity.reasons]
    progress = [
        {
            "text": f"Patient/{a.client_id}: done {a.done} of {a.expected} due so far "
            f"({a.logged} logged, {a.upcoming} to come)"
        }
        for a in activity.adherence
    ]
    if activity.note:
        progress.append({"text": activity.note})
    return {"detail": detail} | ({"progress": progress} if progress else {})
