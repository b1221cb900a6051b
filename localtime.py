"""The blog's time zone (``BLOG_TIMEZONE``): every time a person reads or types is in it, every time stored is UTC.

A leaf module: it reads the setting from ``current_app.config`` and imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import tzinfo
from zoneinfo import ZoneInfo

from flask import current_app


def blog_zone() -> tzinfo:
    """The zone the blog's readers and authors see times in (settings.py checked its name). UTC needs no time zone
    database, so the default works on a machine without one."""
    name = zone_name()
    return UTC if name == "UTC" else ZoneInfo(name)


def zone_name() -> str:
    """The zone's IANA name, to say which zone a time is in: “Europe/Zurich”."""
    return current_app.config["BLOG_TIMEZONE"]


def local_time(moment: datetime) -> datetime:
    """A stored (UTC) time as the blog's clocks showed it."""
    return moment.astimezone(blog_zone())


def local_input(moment: datetime | None) -> datetime | None:
    """A stored time as a form shows it: the blog's wall-clock time, without a zone."""
    return local_time(moment).replace(tzinfo=None) if moment is not None else None


def month_start(year: int, month: int) -> datetime:
    """The first moment of a month on the blog's clocks, in UTC: the archive's months split at local midnight."""
    try:
        return datetime(year, month, 1, tzinfo=blog_zone()).astimezone(UTC)
    except OverflowError:  # January of the year 1, east of Greenwich: before the first moment Python knows
        return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TypedTime:
    """A wall-clock time typed in the blog's zone: the moment it means (UTC), and what to tell the person.

    ``moment`` is ``None`` for a time the clocks skip; ``note`` then says so, and for a time the clocks show twice
    it says which of the two was taken (the first).
    """

    moment: datetime | None
    note: str | None = None


def from_local(typed: datetime) -> TypedTime:
    """Read a wall-clock time typed in the blog's zone, minding the nights the clocks change."""
    zone = blog_zone()
    first = typed.replace(tzinfo=zone, fold=0)
    second = typed.replace(tzinfo=zone, fold=1)
    shown = f"{typed:%H:%M} on {typed:%Y-%m-%d}"
    if _wall_clock(first) != typed:  # in the gap: the clocks jump over it
        after = _wall_clock(first)
        return TypedTime(
            None,
            f"There is no {shown} in {zone_name()}: the clocks go forward that night. "
            f"Please choose another time, such as {after:%H:%M}.",
        )
    moment = first.astimezone(UTC)
    if first.utcoffset() != second.utcoffset():  # in the overlap: the clocks show it twice
        return TypedTime(
            moment,
            f"{shown} happens twice in {zone_name()} (the clocks go back that night): this is the first, "
            f"{typed:%H:%M} {first:%Z}, which is {moment:%H:%M} UTC.",
        )
    return TypedTime(moment)


def _wall_clock(moment: datetime) -> datetime:
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None)


def format_date(value: datetime) -> str:
    """A date for readers, on the blog's clocks: “24 November 2026”."""
    moment = local_time(value)
    return f"{moment.day} {moment:%B %Y}"


def format_short_date(value: datetime) -> str:
    """A compact date for readers, on the blog's clocks: “24 Nov 2026” (a comment's, beside its author's name)."""
    moment = local_time(value)
    return f"{moment.day} {moment:%b %Y}"


def format_date_time(value: datetime) -> str:
    """A date and time for readers, naming the zone: “24 November 2026, 18:30 CET”."""
    moment = local_time(value)
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M %Z}"


def format_stamp(value: datetime) -> str:
    """A compact date and time for lists, naming the zone: “2026-11-24 18:30 CET”."""
    return f"{local_time(value):%Y-%m-%d %H:%M %Z}"
