"""Pictures for the counsellor: the couple's balance map and a scale's trend over time.

Each chart is read through the services the JSON views use (the couple
report's `latest_balance`, `client_results` and `client_trends`, plans) and
drawn with matplotlib's object-oriented API (no pyplot, no global figure
state) to SVG or PNG. Every chart carries its text alternative: the SVG's
`<title>` and `<desc>` (with `role="img"` and `aria-labelledby`), and for PNG
the same words in the file's Title and Description and in a response header.

The same data always gives the same bytes: ids inside the SVG are hashed with
a fixed salt, the files carry no date and a fixed creator, nothing drawn
depends on the time of drawing, and rendering holds one lock, because
matplotlib's settings are process-wide and its drawing is not thread-safe.
"""

from __future__ import annotations

import io
import re
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import escape

from sqlmodel import Session, select

import assessments
from api import __version__
from api.errors import FieldProblem, InvalidInput
from api.services import plans as plan_service
from api.services.clients import couple_members, get_client
from api.services.instruments import InstrumentKey, clinical_definition, resolve_instrument
from api.services.reports import BALANCE, CHECK_IN, latest_balance
from api.services.responses import client_results, client_trends
from assessments.balance_map import (
    AUTONOMY,
    BALANCE_POSITION,
    CLOSENESS,
    REGION_LABELS,
    BalanceMap,
    Region,
)
from assessments.change import reliable_change
from assessments.spec import Band, Scale
from schemas import CoupleMember
from schemas.response import ResultPoint, TrendPoint, TrendReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

Format = Literal["svg", "png"]
CREATOR = f"Tandem {__version__}"
PNG_DPI = 150

# Okabe-Ito colours: told apart with every common colour vision deficiency;
# partners differ in marker shape too, never in colour alone.
PARTNER_STYLES = (("#0072B2", "o"), ("#D55E00", "s"))
BALANCED_FILL, LEANING_FILL, INK, FAINT = "#009E73", "#E69F00", "#222222", "#777777"
CHANGE_STYLES: dict[str, tuple[str, str, str]] = {  # classification: marker, face, words
    "baseline": ("o", "#0072B2", "first response"),
    "no-reliable-change": ("o", "#0072B2", "no reliable change"),
    "not-computable": ("o", "white", "reliable change not computable"),
    "reliably-improved": ("^", "#009E73", "reliably improved"),
    "recovered": ("^", "#009E73", "recovered"),
    "reliably-deteriorated": ("v", "#D55E00", "reliably deteriorated"),
    "reliable-change": ("D", "#CC79A7", "reliable change"),
}
CHECK_IN_SCALE = "balance-rating"  # the check-in's weekly 0-10 self-rating of the balance

_RC = {
    "svg.hashsalt": "tandem",  # element ids from a fixed salt, not a random one
    "svg.fonttype": "none",  # text stays text: searchable, read aloud, smaller
    "svg.id": None,
    "text.parse_math": False,  # a name with "$" in it is a name, not mathtext
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.titlesize": 11,
}
_DRAWING = threading.Lock()


@dataclass(frozen=True)
class Picture:
    """A chart ready to render, with its text alternative.

    `draw` fills a matplotlib figure; `title` names the chart and
    `description` says what it shows, values included, in words.
    """

    title: str
    description: str
    draw: Callable[[Figure], None] = field(repr=False)
    size: tuple[float, float] = (6.4, 4.2)

    def svg(self) -> bytes:
        """A standalone SVG document, its `<title>` and `<desc>` the first things in it."""
        return _accessible(_render(self, "svg").decode(), self, "chart").encode()

    def png(self) -> bytes:
        """A PNG whose Title and Description text chunks carry the text alternative."""
        return _render(self, "png")

    def inline_svg(self, prefix: str) -> str:
        """The SVG for an HTML page: no XML prologue, and every id (and every reference to
        one) prefixed, so several charts on one page never share an id."""
        document = _render(self, "svg").decode()
        document = _TAG.sub(
            lambda tag: _prefixed(tag[0], prefix), document[document.index("<svg") :]
        )
        return _accessible(document, self, f"{prefix}-chart")


_TAG = re.compile(r"<[^>]+>")  # text is escaped, so a name can never look like a tag


def _prefixed(tag: str, prefix: str) -> str:
    """A tag with its id, and the ids it refers to, prefixed."""
    tag = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', tag)
    tag = re.sub(r'\b(xlink:href|href)="#([^"]+)"', rf'\1="#{prefix}-\2"', tag)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", tag)


def _render(picture: Picture, kind: Format) -> bytes:
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    with _DRAWING, rc_context(_RC), warnings.catch_warnings():
        # "Glyph ... missing from font" would quote a letter of a client's name to the log.
        warnings.simplefilter("ignore")
        figure = Figure(figsize=picture.size)  # fixed margins: quicker than a layout engine
        picture.draw(figure)
        if kind == "svg":
            metadata: dict[str, str | None] = {"Date": None, "Creator": CREATOR}
        else:
            metadata = {
                "Software": CREATOR,
                "Title": picture.title,
                "Description": picture.description,
            }
        figure.savefig(buffer, format=kind, metadata=metadata, dpi=PNG_DPI)
    return buffer.getvalue()


_ROOT = re.compile(r"<svg\b[^>]*>")


def _accessible(document: str, picture: Picture, name: str) -> str:
    """The SVG with role="img", aria-labelledby, and `<title>` and `<desc>` (ids `name`-title
    and `name`-desc) first inside."""
    root = _ROOT.search(document)
    assert root is not None, "matplotlib wrote no <svg> element"
    title, desc = f"{name}-title", f"{name}-desc"
    opening = root.group(0)[:-1] + f' role="img" aria-labelledby="{title} {desc}">'
    words = (
        f'\n <title id="{title}">{escape(picture.title)}</title>'
        f'\n <desc id="{desc}">{escape(picture.description)}</desc>'
    )
    return document[: root.start()] + opening + words + document[root.end() :]


def header_text(text: str) -> str:
    """`text` for an HTTP header: UTF-8, percent-encoded where not plain printable ASCII
    (and `%` itself)."""
    return quote(text, safe=" !#$&'()*+,/:;=?@[]~-_.")


# The balance map


@dataclass(frozen=True)
class Position:
    """One balance assessment of one partner, as the map places it."""

    authored: datetime | None
    closeness: float | None
    autonomy: float | None
    balance_position: float | None
    balance_band: str | None

    @property
    def placed(self) -> bool:
        return self.closeness is not None and self.autonomy is not None


@dataclass(frozen=True)
class PartnerOnMap:
    label: str
    latest: Position | None
    previous: Position | None


def partner_labels(session: Session, members: Sequence[uuid.UUID]) -> list[str]:
    """Each partner's name where the practice system gave one, else "Partner 1" / "Partner 2"
    (the couple's order, as in the couple report)."""
    return [
        get_client(session, client_id).name or f"Partner {n}"
        for n, client_id in enumerate(members, 1)
    ]


def balance_map(session: Session, couple_id: uuid.UUID) -> Picture:
    """The couple's balance map: each partner's latest balance assessment placed by closeness
    (up) against autonomy (across), their previous one faint with an arrow to the latest;
    the regions are `assessments.balance_map`'s. NotFound for another clinic's couple."""
    members = couple_members(session, couple_id)
    latest = latest_balance(session, members)
    geometry = BalanceMap.from_spec(latest.definition.scoring)
    partners = []
    for client_id, label, found in zip(
        members, partner_labels(session, members), latest.responses, strict=True
    ):
        history = client_results(session, client_id, BALANCE).points if found else []
        ids = [point.response_id for point in history]
        at = ids.index(found[0]) if found and found[0] in ids else len(ids) - 1
        partners.append(
            PartnerOnMap(
                label=label,
                latest=_position(history[at]) if at >= 0 else None,
                previous=_position(history[at - 1]) if at >= 1 else None,
            )
        )
    title = "Balance map: closeness and independence needs met"
    return Picture(
        title=title,
        description=_map_description(geometry, partners),
        draw=lambda figure: _draw_map(figure, title, geometry, partners),
        size=(6.2, 6.2),
    )


def _position(point: ResultPoint) -> Position:
    scores = {score.scale: score for score in point.scores}

    def value(scale: str) -> float | None:
        score = scores.get(scale)
        return None if score is None else score.value

    position = scores.get(BALANCE_POSITION)
    return Position(
        authored=point.authored,
        closeness=value(CLOSENESS),
        autonomy=value(AUTONOMY),
        balance_position=value(BALANCE_POSITION),
        balance_band=None if position is None else position.band,
    )


def _map_description(geometry: BalanceMap, partners: list[PartnerOnMap]) -> str:
    sentences = [
        f"Closeness need met (up) against independence need met (across), {geometry.low} to "
        f"{geometry.high}. Balanced "
        f"region: both needs {geometry.met} or more. Enmeshed-leaning: closeness at least "
        f"{geometry.tilt} above independence; detached-leaning: independence at least "
        f"{geometry.tilt} above closeness; both needs unmet: both below {geometry.unmet}."
    ]
    for partner in partners:
        latest = partner.latest
        if latest is None:
            sentences.append(f"{partner.label}: no scored balance assessment yet.")
            continue
        if not latest.placed:
            sentences.append(
                f"{partner.label}{_on(latest.authored)}: not placed, closeness or independence "
                "could not be scored (too few statements answered)."
            )
            continue
        words = (
            f"{partner.label}{_on(latest.authored)}: closeness {_number(latest.closeness)}, "
            f"independence {_number(latest.autonomy)}, {_region_words(geometry, latest)}"
        )
        if latest.balance_position is not None:
            words += (
                f"; balance position {_number(latest.balance_position)}"
                f" ({latest.balance_band or 'no band'})"
            )
        previous = partner.previous
        if previous is not None and previous.placed:
            words += (
                f"; previously{_on(previous.authored)} closeness {_number(previous.closeness)}, "
                f"independence {_number(previous.autonomy)}"
            )
        sentences.append(words + ".")
    return " ".join(sentences)


def _region_words(geometry: BalanceMap, position: Position) -> str:
    assert position.closeness is not None and position.autonomy is not None
    region = geometry.region(position.closeness, position.autonomy)
    return f"in the {REGION_LABELS[region].split(':')[0].lower()} region"


def _draw_map(
    figure: Figure, title: str, geometry: BalanceMap, partners: list[PartnerOnMap]
) -> None:
    from matplotlib.patches import FancyArrowPatch, Polygon

    axes = figure.add_subplot()
    figure.subplots_adjust(left=0.12, right=0.96, bottom=0.14, top=0.93)
    low, high = float(geometry.low), float(geometry.high)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_aspect("equal")
    axes.set_title(title)
    axes.set_xlabel("Independence (autonomy need met, 0-100)")
    axes.set_ylabel("Closeness (closeness need met, 0-100)")
    outlines, anchors = geometry.outlines(), geometry.anchors()
    fills = {
        Region.BALANCED: {"facecolor": BALANCED_FILL, "alpha": 0.22, "edgecolor": "none"},
        Region.ENMESHED_LEANING: {"facecolor": LEANING_FILL, "alpha": 0.1, "edgecolor": "none"},
        Region.DETACHED_LEANING: {"facecolor": LEANING_FILL, "alpha": 0.1, "edgecolor": "none"},
        Region.BOTH_UNMET: {
            "facecolor": "none",
            "edgecolor": FAINT,
            "linestyle": "--",
            "linewidth": 0.8,
        },
    }
    for region, corners in outlines.items():
        axes.add_patch(Polygon(corners, closed=True, gid=f"region-{region}", **fills[region]))
        x, y = anchors[region]
        axes.text(
            x,
            y,
            REGION_LABELS[region].replace(": ", ":\n"),
            ha="center",
            va="center",
            color=INK if region == Region.BALANCED else FAINT,
            fontsize=8,
            gid=f"region-{region}-label",
        )
    axes.plot([low, high], [low, high], color=FAINT, linewidth=0.5, linestyle=":")
    for n, (partner, (colour, marker)) in enumerate(zip(partners, PARTNER_STYLES, strict=False), 1):
        latest, previous = partner.latest, partner.previous
        if latest is None or not latest.placed:
            continue
        here = (latest.autonomy, latest.closeness)
        if previous is not None and previous.placed:
            before = (previous.autonomy, previous.closeness)
            axes.plot(
                *before,
                marker=marker,
                markersize=8,
                color=colour,
                alpha=0.3,
                linestyle="none",
                clip_on=False,  # a point on the edge is shown whole
                gid=f"partner-{n}-previous",
            )
            if before != here:
                axes.add_patch(
                    FancyArrowPatch(
                        before,
                        here,
                        arrowstyle="->",
                        mutation_scale=12,
                        color=colour,
                        alpha=0.6,
                        shrinkA=5,
                        shrinkB=6,
                        gid=f"partner-{n}-arrow",
                    )
                )
        axes.plot(
            *here,
            marker=marker,
            markersize=9,
            color=colour,
            markeredgecolor="white",
            linestyle="none",
            clip_on=False,
            gid=f"partner-{n}-latest",
        )
        # Partner 1's label above the point, partner 2's below, unless that leaves the
        # map; on the left of the point near the right edge.
        left = here[0] > low + (high - low) * 0.7
        up = here[1] < low + (high - low) * 0.88 if n == 1 else here[1] < low + (high - low) * 0.1
        axes.annotate(
            partner.label,
            xy=here,
            xytext=(-8 if left else 8, 6 if up else -14),
            textcoords="offset points",
            ha="right" if left else "left",
            color=colour,
            fontsize=9,
            fontweight="bold",
            gid=f"partner-{n}-label",
        )
    if any(p.previous is not None and p.previous.placed for p in partners):
        _legend_of_times(figure)
    if not any(p.latest is not None and p.latest.placed for p in partners):
        axes.text(
            (low + high) / 2,
            (low + high) / 2 - 12,
            "No scored balance assessment yet",
            ha="center",
            color=FAINT,
        )


def _legend_of_times(figure: Figure) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", color=FAINT, linestyle="none", label="latest assessment"),
        Line2D(
            [],
            [],
            marker="o",
            color=FAINT,
            alpha=0.3,
            linestyle="none",
            label="previous assessment (arrow: to the latest)",
        ),
    ]
    figure.legend(handles=handles, loc="lower center", ncols=2, frameon=False, fontsize=8)


# A scale over time


@dataclass(frozen=True)
class Companion:
    """The weekly check-ins drawn thin beside a balance scale: the same scale where the
    check-in has it, else its 0-10 self-rating of the balance on an axis of its own."""

    label: str
    points: list[TrendPoint]
    same_axis: bool
    span: tuple[float, float]


def scale_trend(
    session: Session, client_id: uuid.UUID, instrument: str, scale: str, label: str | None = None
) -> Picture:
    """One scale of a client's scored responses over time: a marker per response showing
    reliable change from the one before, the scale's bands shaded, the weekly check-ins
    (for the balance assessment) as a thin line, and the start of each approved plan of
    the client's couples. NotFound for an unknown client or instrument; InvalidInput for
    a scale the instrument does not have."""
    return scale_trends(session, client_id, instrument, [scale], label)[0]


def scale_trends(
    session: Session,
    client_id: uuid.UUID,
    instrument: str,
    scales: Sequence[str],
    label: str | None = None,
) -> list[Picture]:
    """`scale_trend` for several scales of one instrument, reading the responses once."""
    who = label or get_client(session, client_id).name or "this client"
    report = client_trends(session, client_id, instrument)
    definition = clinical_definition(
        session, InstrumentKey.of(resolve_instrument(session, instrument))
    )
    trends = {trend.scale: trend for trend in report.scales}
    unknown = [code for code in scales if code not in trends]
    if unknown:
        raise InvalidInput(
            f"the instrument has no scale '{unknown[0]}'",
            [
                FieldProblem.of_parameter(
                    "scale", "one of: " + ", ".join(t.scale for t in report.scales)
                )
            ],
        )
    plan_starts = _plan_starts(session, client_id)
    check_ins = _check_ins(session, client_id) if report.instrument.slug == BALANCE else None
    pictures = []
    for code in scales:
        spec = definition.scoring.scale(code)
        span = _span(definition.ranges.get(code), spec, trends[code].points)
        companion = _companion(*check_ins, code, span) if check_ins is not None else None
        points = trends[code].points
        changes = ["baseline"] + [
            reliable_change(spec, before.value, after.value).classification
            for before, after in pairwise(points)
        ]
        title = f"{spec.label} over time: {who}"
        pictures.append(
            Picture(
                title=title,
                description=_trend_description(spec, points, changes, companion, plan_starts),
                draw=_trend_drawing(title, spec, span, points, changes, companion, plan_starts),
            )
        )
    return pictures


def _plan_starts(session: Session, client_id: uuid.UUID) -> list[date]:
    """The start of each plan of the client's couples that was ever approved."""
    couples = session.exec(
        select(CoupleMember.couple_id).where(CoupleMember.client_id == client_id)
    ).all()
    starts = {
        plan.start
        for couple_id in couples
        for plan in plan_service.couple_plans(session, couple_id)
        if any(version.approved_at is not None for version in plan.versions)
    }
    return sorted(starts)


def _check_ins(
    session: Session, client_id: uuid.UUID
) -> tuple[TrendReport, assessments.Instrument]:
    """The client's weekly check-ins, scale by scale, and the check-in's definition."""
    instrument = resolve_instrument(session, CHECK_IN)
    return (
        client_trends(session, client_id, CHECK_IN),
        clinical_definition(session, InstrumentKey.of(instrument)),
    )


def _companion(
    check_ins: TrendReport,
    definition: assessments.Instrument,
    code: str,
    span: tuple[float, float],
) -> Companion | None:
    """The check-ins' line for a balance scale: the check-in's own scale of that code, on the
    same axis where the ranges agree; else its self-rating of the balance."""
    by_scale = {trend.scale: trend for trend in check_ins.scales}
    chosen = code if code in by_scale and by_scale[code].points else CHECK_IN_SCALE
    trend = by_scale.get(chosen)
    if trend is None or not trend.points:
        return None
    own = _span(definition.ranges.get(chosen), definition.scoring.scale(chosen), trend.points)
    label = f"weekly check-in: {trend.label[:1].lower()}{trend.label[1:]}"
    return Companion(label, trend.points, own == span, own)


def _span(found: Any, spec: Scale, points: list[TrendPoint]) -> tuple[float, float]:
    """The scale's range: from its items where known, else its bands' bounds and the data."""
    if found is not None:
        return float(found[0]), float(found[1])
    values = [float(b) for band in spec.bands for b in band.bounds()]
    values += [p.value for p in points]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    return (low, high) if low < high else (low - 1, high + 1)


def _trend_description(
    spec: Scale,
    points: list[TrendPoint],
    changes: list[str],
    companion: Companion | None,
    plan_starts: list[date],
) -> str:
    labels = {band.code: band.label for band in spec.bands}
    if not points:
        sentences = [f"{spec.label}: no scored responses yet."]
    else:
        told = [
            f"{_number(p.value)} ({labels.get(p.band or '', 'no band')}){_on(p.authored)}"
            + ("" if change == "baseline" else f", {CHANGE_STYLES[change][2]} since the one before")
            for p, change in zip(points, changes, strict=True)
        ]
        sentences = [f"{spec.label}, {len(points)} response(s): " + "; ".join(told) + "."]
    bands = ", ".join(f"{band.label} {_bounds(band)}" for band in spec.bands)
    sentences.append(f"Bands: {bands}.")
    if companion is not None:
        values = [p.value for p in companion.points]
        sentences.append(
            f"Weekly check-ins ({companion.label}): {len(values)}, from "
            f"{_day(companion.points[0].authored)} to {_day(companion.points[-1].authored)}, "
            f"latest {_number(values[-1])}."
        )
    if plan_starts:
        sentences.append(
            "Plan started " + ", ".join(start.isoformat() for start in plan_starts) + "."
        )
    return " ".join(sentences)


def _bounds(band: Band) -> str:
    parts = []
    for word, bound in (("from", band.ge), ("above", band.gt), ("to", band.le), ("below", band.lt)):
        if bound is not None:
            parts.append(f"{word} {_number(bound)}")
    return " ".join(parts) or "(any value)"


def _trend_drawing(
    title: str,
    spec: Scale,
    span: tuple[float, float],
    points: list[TrendPoint],
    changes: list[str],
    companion: Companion | None,
    plan_starts: list[date],
) -> Callable[[Figure], None]:
    def draw(figure: Figure) -> None:
        from matplotlib import dates as mdates

        axes = figure.add_subplot()
        figure.subplots_adjust(left=0.1, right=0.9, bottom=0.3, top=0.92)
        axes.set_title(title)
        axes.set_ylabel(spec.label)
        low, high = span
        pad = (high - low) * 0.04
        axes.set_ylim(low - pad, high + pad)
        _shade_bands(axes, spec, span)
        everything = points + (companion.points if companion else [])
        moments = [_utc(p.authored) for p in everything if p.authored is not None]
        moments += [datetime.combine(start, datetime.min.time()) for start in plan_starts]
        first, last = _time_span(moments)
        axes.set_xlim(first, last)
        handles = []
        if companion is not None:
            handles.append(_draw_companion(axes, companion))
        dated = [
            (_utc(p.authored), p.value, c)
            for p, c in zip(points, changes, strict=True)
            if p.authored is not None
        ]
        if dated:
            axes.plot(
                [d[0] for d in dated],
                [d[1] for d in dated],
                color="#0072B2",
                linewidth=1.6,
                gid="scale-line",
            )
        for change, (marker, face, words) in CHANGE_STYLES.items():
            chosen = [d for d in dated if d[2] == change]
            if chosen:
                (line,) = axes.plot(
                    [d[0] for d in chosen],
                    [d[1] for d in chosen],
                    marker=marker,
                    markersize=8 if marker != "o" else 6,
                    markerfacecolor=face,
                    markeredgecolor="#0072B2",
                    linestyle="none",
                    label=words,
                    gid=f"responses-{change}",
                )
                handles.append(line)
        for n, start in enumerate(plan_starts, 1):
            moment = datetime.combine(start, datetime.min.time())
            line = axes.axvline(
                moment,
                color=INK,
                linestyle="--",
                linewidth=0.9,
                gid=f"plan-start-{n}",
                label="plan starts",
            )
            axes.text(
                moment,
                0.02,
                "plan starts",
                transform=axes.get_xaxis_transform(),
                rotation=90,
                ha="right",
                va="bottom",
                fontsize=7,
                color=INK,
            )
            if n == 1:
                handles.append(line)
        if not dated:
            axes.text(
                0.5,
                0.5,
                "No scored responses yet",
                transform=axes.transAxes,
                ha="center",
                color=FAINT,
            )
        axes.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        axes.tick_params(axis="x", labelrotation=30)
        if handles:
            figure.legend(
                handles=handles,
                loc="lower center",
                ncols=min(len(handles), 2),
                fontsize=7,
                frameon=False,
            )

    return draw


def _shade_bands(axes: Axes, spec: Scale, span: tuple[float, float]) -> None:
    """The scale's bands as horizontal stripes, the one the scale's direction aims at
    (the highest, the lowest, or the one holding zero) in green, each named at its left."""
    low, high = span
    aim = {"higher-is-better": high, "lower-is-better": low, "toward-zero": 0.0}.get(spec.direction)
    for n, band in enumerate(spec.bands):
        below = band.ge if band.ge is not None else band.gt
        above = band.lt if band.lt is not None else band.le
        bottom = max(low, float(below)) if below is not None else low
        top = min(high, float(above)) if above is not None else high
        if top <= bottom:
            continue
        best = aim is not None and band.contains(Decimal(str(aim)))
        colour = BALANCED_FILL if best else ("#BBBBBB" if n % 2 else "#DDDDDD")
        axes.axhspan(
            bottom,
            top,
            color=colour,
            alpha=0.18 if best else 0.35,
            linewidth=0,
            gid=f"band-{band.code}",
        )
        axes.annotate(
            band.label,
            xy=(0, top),
            xycoords=("axes fraction", "data"),
            xytext=(3, -9),
            textcoords="offset points",
            fontsize=7,
            color=FAINT,
        )


def _draw_companion(axes: Axes, companion: Companion) -> Line2D:
    dated = [(_utc(p.authored), p.value) for p in companion.points if p.authored is not None]
    target = axes
    if not companion.same_axis:
        target = axes.twinx()
        target.set_ylim(companion.span[0] - 0.4, companion.span[1] + 0.4)
        target.set_ylabel("Weekly check-in", color=FAINT)
        target.tick_params(axis="y", colors=FAINT)
    (line,) = target.plot(
        [d[0] for d in dated],
        [d[1] for d in dated],
        color=FAINT,
        linewidth=0.8,
        marker=".",
        markersize=3,
        label=companion.label,
        gid="check-ins",
    )
    return line


def _time_span(moments: list[datetime]) -> tuple[datetime, datetime]:
    """The time axis: every moment shown, with a margin, and at least a week (the axis
    names days)."""
    if not moments:
        return datetime(2000, 1, 1), datetime(2000, 1, 8)
    first, last = min(moments), max(moments)
    margin = max((last - first) * 0.06, timedelta(hours=12))
    first, last = first - margin, last + margin
    if last - first < timedelta(days=7):
        middle = first + (last - first) / 2
        return middle - timedelta(days=3.5), middle + timedelta(days=3.5)
    return first, last


def _utc(moment: datetime) -> datetime:
    """A moment as naive UTC: what the time axis plots (plan starts are UTC midnights)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _number(value: float | Decimal | None) -> str:
    if value is None:
        return "not scored"
    number = Decimal(str(value))
    return f"{number.normalize():f}" if number == number.to_integral_value() else f"{number:f}"


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "an unknown date"


def _on(moment: datetime | None) -> str:
    return f" on {moment.date().isoformat()}" if moment is not None else ""
