"""/v1/.../charts: the couple's balance map and a scale over time, as SVG or PNG.

Every chart carries its text alternative: inside the SVG (`<title>`, `<desc>`),
and for PNG in the file and in the `Chart-Title` and `Chart-Description`
headers (UTF-8, percent-encoded).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth.dependencies import require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.routes.common import problems
from api.services import charts
from api.services.charts import Picture

router = APIRouter(prefix="/v1", tags=["insight"])

SVG, PNG = "image/svg+xml", "image/png"
_TEXT_HEADERS = {
    "Chart-Title": {
        "description": "the chart's title (UTF-8, percent-encoded)",
        "schema": {"type": "string"},
    },
    "Chart-Description": {
        "description": "the chart's data in words, its text alternative (UTF-8, percent-encoded)",
        "schema": {"type": "string"},
    },
}


def _image(kind: str, words: str) -> dict[int | str, dict[str, Any]]:
    answer: dict[str, Any] = {
        "description": words,
        "content": {kind: {"schema": {"type": "string", "format": "binary"}}},
    }
    if kind == PNG:
        answer["headers"] = _TEXT_HEADERS
    return {200: answer, **problems(404, 422)}


def _svg(picture: Picture) -> Response:
    return Response(picture.svg(), media_type=SVG, headers={"Cache-Control": "no-store"})


def _png(picture: Picture) -> Response:
    return Response(
        picture.png(),
        media_type=PNG,
        headers={
            "Cache-Control": "no-store",
            "Chart-Title": charts.header_text(picture.title),
            "Chart-Description": charts.header_text(picture.description),
        },
    )


_MAP = (
    "Closeness need met (up) against independence need met (across), from each partner's "
    "latest balance assessment, the previous one faint with an arrow to the latest. The "
    "balanced region (both needs met) is shaded; the enmeshed-leaning and detached-leaning "
    "regions (one need outweighs the other by a full answer step) are labelled."
)
_TREND = (
    "One scale of a client's scored responses over time: a marker per response (its shape "
    "says whether the change since the one before is reliable), the scale's bands shaded, the "
    "weekly check-ins as a thin line beside the balance assessment, and each approved plan's "
    "start."
)
Instrument = Annotated[str, Query(description="slug (every version), url, or url|version")]
Scale = Annotated[str, Query(description="the scale's code, e.g. closeness")]


@router.get(
    "/couples/{couple_id}/charts/balance.svg",
    response_class=Response,
    responses=_image(SVG, "the balance map, with <title> and <desc>"),
    summary="The couple's balance map (SVG)",
    description=_MAP,
)
def balance_map_svg(
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Observation.s"))],
) -> Response:
    return _svg(charts.balance_map(session, couple_id))


@router.get(
    "/couples/{couple_id}/charts/balance.png",
    response_class=Response,
    responses=_image(PNG, "the balance map; its text alternative in the headers"),
    summary="The couple's balance map (PNG)",
    description=_MAP,
)
def balance_map_png(
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Observation.s"))],
) -> Response:
    return _png(charts.balance_map(session, couple_id))


@router.get(
    "/clients/{client_id}/charts/trend.svg",
    response_class=Response,
    responses=_image(SVG, "the scale over time, with <title> and <desc>"),
    summary="A scale over time (SVG)",
    description=_TREND,
)
def scale_trend_svg(
    client_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Observation.s"))],
    instrument: Instrument,
    scale: Scale,
) -> Response:
    return _svg(charts.scale_trend(session, client_id, instrument, scale))


@router.get(
    "/clients/{client_id}/charts/trend.png",
    response_class=Response,
    responses=_image(PNG, "the scale over time; its text alternative in the headers"),
    summary="A scale over time (PNG)",
    description=_TREND,
)
def scale_trend_png(
    client_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Observation.s"))],
    instrument: Instrument,
    scale: Scale,
) -> Response:
    return _png(charts.scale_trend(session, client_id, instrument, scale))
