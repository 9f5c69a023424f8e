"""Dates people type into forms (when a diploma was issued, when an achievement happened): none may lie in the future.

"Today" is the server's calendar date (its clock, ``Ctx.now()``, in its time zone), never the
browser's: a date equal to it is accepted, any later one is refused with :class:`FutureDate`
(issue 18: a diploma dated 2031-01-01 was accepted). A date that does not parse is left to the
parser that owns the field, which says what format it wants.
"""

from __future__ import annotations

from datetime import date

from ledger.errors import MalformedError


class FutureDate(MalformedError):
    """A date after today; carries both, so a page can say why it was refused (``message_key``, ``message_args``)."""

    message_key = "err.future_date"

    def __init__(self, day: date, today: date) -> None:
        super().__init__(f"the date {day.isoformat()} is in the future (today is {today.isoformat()} on the server): a document cannot be dated after today")
        self.day = day
        self.today = today

    @property
    def message_args(self) -> dict[str, str]:
        return {"day": self.day.isoformat(), "today": self.today.isoformat()}


def server_today(now: int) -> date:
    """The server's calendar date at the Unix time ``now`` (its local time zone)."""
    return date.fromtimestamp(now)


def refuse_future(day: date, today: date) -> None:
    """FutureDate if ``day`` is after ``today``; today itself is allowed."""
    if day > today:
        raise FutureDate(day, today)


def refuse_future_text(text: str, today: date) -> None:
    """:func:`refuse_future` for a date as typed (YYYY-MM-DD); a malformed one passes here, for its own parser to refuse."""
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        return
    refuse_future(day, today)
