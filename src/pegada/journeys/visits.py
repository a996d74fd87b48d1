"""Grouping a session's page hits into visits — the usual web-analytics rule.

A hit starts a new visit when the session has none open, when it comes more than the
tenant's idle time (30 minutes by default) after the visit's last hit, when the local date
(tenant time zone) changed since the visit started, or when it is a new landing whose
campaign differs from the visit's (another ad, another source). Everything else extends the
open visit.

The visits of a session are what this rule makes of all its hits in time order, whatever
order they arrived in. `assign` therefore takes hits that come at or after the open visit's
last hit; a late hit (a queued one, older than that) makes the writer regroup the stretch of
the session it falls in instead (journeys/regroup.py), so it joins the visit it belongs to,
becomes its landing when it is the first page, or forms a visit of its own.

Pure functions over plain values so the rule is tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

#: What identifies a landing's campaign: channel type, source, medium, campaign.
CampaignKey = tuple[str, str | None, str | None, str | None]


@dataclass
class VisitState:
    """A visit as the splitter sees it: the open one from storage, or one being built."""

    started_at: datetime
    ended_at: datetime
    local_day: date
    key: CampaignKey
    page_count: int = 0
    exit_url: str = ""
    id: int | None = None  # None until stored
    first_hit: int | None = None  # index of the landing hit, for new visits
    changed: bool = False


@dataclass(frozen=True)
class HitFacts:
    occurred_at: datetime
    is_entry: bool
    key: CampaignKey
    url: str


@dataclass
class Assignment:
    """The outcome for one session's batch: visits touched and each hit's visit."""

    visits: list[VisitState] = field(default_factory=list)
    hit_visit: list[int] = field(default_factory=list)  # index into `visits`, per hit
    open_index: int | None = None  # the session's open visit after the batch


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def assign(
    open_visit: VisitState | None, hits: list[HitFacts], idle: timedelta, zone: ZoneInfo
) -> Assignment:
    """Place `hits` (in time order, none before the open visit's last hit) into the open
    visit or new ones; the visits come out in time order, the last one open."""
    result = Assignment()
    current = open_visit
    if current is not None:
        result.visits.append(current)
        result.open_index = 0
    for index, hit in enumerate(hits):
        if current is not None and hit.occurred_at < current.ended_at:
            raise ValueError(
                f"hit {index} ({hit.occurred_at.isoformat()}) is older than the last hit "
                f"placed ({current.ended_at.isoformat()}): regroup instead"
            )
        day = local_day(hit.occurred_at, zone)
        if current is None or _starts_new_visit(current, hit, day, idle):
            current = _new_visit(hit, day, index)
            result.visits.append(current)
            result.open_index = len(result.visits) - 1
        _extend(current, hit)
        result.hit_visit.append(len(result.visits) - 1)
    return result


def _starts_new_visit(current: VisitState, hit: HitFacts, day: date, idle: timedelta) -> bool:
    if hit.occurred_at - current.ended_at > idle:
        return True
    if day != current.local_day:
        return True
    return hit.is_entry and hit.key != current.key


def _new_visit(hit: HitFacts, day: date, index: int) -> VisitState:
    return VisitState(hit.occurred_at, hit.occurred_at, day, hit.key, first_hit=index)


def _extend(visit: VisitState, hit: HitFacts) -> None:
    visit.page_count += 1
    visit.changed = True
    visit.ended_at = hit.occurred_at
    visit.exit_url = hit.url
