"""The Swedish text of each reminder: a subject line and a plain-text body.

One function, :func:`render_text`, turns a :class:`Message` into the words a clerk
reads. Every kind names the recommendation (title and key), the party (name and key),
the reply date and what is asked. Dates are written the Swedish way ("30 september
2022") from our own month names, so the text never depends on the host's locale.

The e-mail notifier sends this text; the webhook sends the structured fields instead
and leaves the wording to the receiver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from beslut.clock import STOCKHOLM
from beslut.scheduler.notifiers.base import Message

MONTHS_SV = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)

DEFAULT_SIGNATURE = "beslut, bevakning av rekommendationer"
DASH = "\u2013"  # the en dash Swedish typography uses between clauses

# The party decision's states (beslut/states/machines.py) as a clerk would say them.
STATE_SV = {
    "pending": "inte påbörjat",
    "preparing": "under beredning",
    "proposed": "förslag till beslut finns",
    "decided": "beslutat",
    "announced": "beslut anslaget",
    "appealed": "överklagat",
    "final": "laga kraft",
}


@dataclass(frozen=True)
class Text:
    """A message's subject line and plain-text body (UTF-8, every line ending in a newline)."""

    subject: str
    body: str


def format_date_sv(day: date) -> str:
    """A date the Swedish way, independent of the locale: ``30 september 2022``."""
    return f"{day.day} {MONTHS_SV[day.month - 1]} {day.year}"


def days_sv(count: int) -> str:
    """``1 dag``, ``14 dagar``."""
    return f"{count} dag" if count == 1 else f"{count} dagar"


def local_date(instant: datetime) -> date:
    """The calendar date of *instant* in Europe/Stockholm (a naive instant is taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(STOCKHOLM).date()


def days_late(message: Message) -> int | None:
    """How many whole days after the reply date the message falls due.

    The deadline passes at 00:00 the day after the reply date, so an escalation due
    14 days after the deadline reads "14 dagar". ``details["days_late"]`` (an int)
    overrides the computation.
    """
    given = message.details.get("days_late")
    if isinstance(given, int) and not isinstance(given, bool):
        return given
    if message.reply_by is None:
        return None
    return max((local_date(message.due_at) - message.reply_by).days - 1, 0)


def render_text(message: Message, *, signature: str = DEFAULT_SIGNATURE) -> Text:
    """The Swedish subject and body of *message*, by its kind; the subject is always one line."""
    if message.kind == "before":
        text = _before(message, signature)
    elif message.kind == "overdue":
        text = _overdue(message, signature)
    elif message.kind == "escalation":
        text = _escalation(message, signature)
    else:
        text = _digest(message, signature)
    return Text(" ".join(text.subject.split()), text.body)


def _before(message: Message, signature: str) -> Text:
    reply_by = message.reply_by
    when = f"senast {format_date_sv(reply_by)}" if reply_by else "så snart som möjligt"
    subject = f"Påminnelse: {message.recommendation_title} {DASH} {_party_short(message)}, svar {when}"
    date_line = "inget angivet"
    if reply_by is not None:
        left = (reply_by - local_date(message.due_at)).days
        date_line = format_date_sv(reply_by)
        if left > 0:
            date_line += f" (om {days_sv(left)})"
        elif left == 0:
            date_line += " (i dag)"
    lines = [
        _greeting(message),
        "",
        "Det här är en vänlig påminnelse om en rekommendation som väntar på ert beslut.",
        "",
        *_facts(message, date_line),
        "",
        f"Skicka {_possessive(message.party_name)} beslut (protokollsutdrag) till {_coordinator(message)} {when}.",
        "",
        "Om beslutet redan är skickat kan du bortse från den här påminnelsen.",
        *_closing(signature),
    ]
    return Text(subject, _join(lines))


def _overdue(message: Message, signature: str) -> Text:
    reply_by = message.reply_by
    subject = f"Svarsdatum har passerat: {message.recommendation_title} {DASH} {_party_short(message)}"
    passed = f"Svarsdatum {format_date_sv(reply_by)}" if reply_by else "Svarsdatum"
    late = days_late(message)
    date_line = format_date_sv(reply_by) if reply_by else "inget angivet"
    if late:
        date_line += f" (passerat för {days_sv(late)} sedan)"
    lines = [
        _greeting(message),
        "",
        f"{passed} har passerat, och vi har ännu inte fått något beslut från {_party_short(message)} "
        "om rekommendationen nedan.",
        "",
        *_facts(message, date_line),
        "",
        f"Skicka {_possessive(message.party_name)} beslut (protokollsutdrag) till {_coordinator(message)} "
        "så snart som möjligt. Om ärendet ännu inte är avgjort får du gärna meddela när beslut väntas.",
        "",
        "Om beslutet redan är skickat kan du bortse från den här påminnelsen.",
        *_closing(signature),
    ]
    return Text(subject, _join(lines))


def _escalation(message: Message, signature: str) -> Text:
    reply_by = message.reply_by
    late = days_late(message)
    late_text = f"{days_sv(late)} försenat" if late is not None else "försenat"
    subject = f"Försenat beslut: {_party_short(message)} {DASH} {message.recommendation_title}, {late_text}"
    was = f"Svarsdatum var {format_date_sv(reply_by)}, och beslutet är nu {late_text}." if reply_by else ""
    lines = [
        _greeting(message),
        "",
        f"{_party(message)} har ännu inte skickat sitt beslut om rekommendationen nedan. {was}",
        "",
        *_facts(message, format_date_sv(reply_by) if reply_by else "inget angivet"),
        f"Försenat: {days_sv(late)}" if late is not None else "Försenat: ja",
        "",
        "Parten har fått påminnelser. Du kan behöva kontakta parten direkt för att höra när beslut väntas.",
        *_closing(signature),
    ]
    return Text(subject, _join(lines))


def _digest(message: Message, signature: str) -> Text:
    items = _items(message.details.get("items"))
    overdue = sum(1 for item in items if item.get("overdue") is True)
    on = format_date_sv(local_date(message.due_at))
    subject = f"Sammanställning den {on}: {len(items)} beslut inväntas"
    if overdue:
        subject += f", varav {overdue} {'försenat' if overdue == 1 else 'försenade'}"
    lines = [_greeting(message), ""]
    if not items:
        lines.append(f"Sammanställning den {on}: just nu inväntas inga beslut.")
    else:
        lines.append(f"Här är sammanställningen den {on} av beslut som inväntas.")
        for (key, title), group in _grouped(message, items):
            lines += ["", f"{title} ({key})" if title else key]
            lines += [_digest_line(item) for item in group]
    lines += _closing(signature)
    return Text(subject, _join(lines))


def _digest_line(item: Mapping[str, Any]) -> str:
    party = str(item.get("party", ""))
    name = item.get("party_name")
    who = f"{name} ({party})" if name else party
    parts = [f"svarsdatum {_date_text(item.get('reply_by'))}"]
    state = item.get("state")
    if isinstance(state, str) and state:
        parts.append(STATE_SV.get(state, state))
    line = f"- {who}: {', '.join(parts)}"
    if item.get("overdue") is True:
        line += f" {DASH} försenat"
    return line


def _items(raw: Any) -> list[Mapping[str, Any]]:
    if not isinstance(raw, Iterable) or isinstance(raw, str | bytes | Mapping):
        return []
    return [item for item in raw if isinstance(item, Mapping)]


def _grouped(
    message: Message, items: list[Mapping[str, Any]]
) -> list[tuple[tuple[str, str | None], list[Mapping[str, Any]]]]:
    groups: dict[tuple[str, str | None], list[Mapping[str, Any]]] = {}
    for item in items:
        key = str(item.get("recommendation") or message.recommendation)
        title = item.get("recommendation_title")
        if not isinstance(title, str) or not title:
            title = message.recommendation_title if key == message.recommendation else None
        groups.setdefault((key, title), []).append(item)
    return list(groups.items())


def _date_text(value: Any) -> str:
    if isinstance(value, datetime):
        return format_date_sv(local_date(value))
    if isinstance(value, date):
        return format_date_sv(value)
    if isinstance(value, str) and value:
        try:
            return format_date_sv(date.fromisoformat(value))
        except ValueError:
            return value
    return "inget angivet"


def _greeting(message: Message) -> str:
    name = message.recipient.name
    return f"Hej {name}," if name else "Hej,"


def _recommendation(message: Message) -> str:
    return f"{message.recommendation_title} ({message.recommendation})"


def _party(message: Message) -> str:
    if message.party_name and message.party:
        return f"{message.party_name} ({message.party})"
    return message.party_name or message.party or "parten"


def _party_short(message: Message) -> str:
    return message.party_name or message.party or "parten"


def _facts(message: Message, date_line: str) -> list[str]:
    return [
        f"Rekommendation: {_recommendation(message)}",
        f"Part: {_party(message)}",
        f"Svarsdatum: {date_line}",
    ]


def _possessive(party_name: str | None) -> str:
    """``kommunens``, ``regionens`` or ``partens`` beslut, from the party's name."""
    lowered = (party_name or "").lower()
    if "kommun" in lowered:
        return "kommunens"
    if lowered.startswith("region"):
        return "regionens"
    return "partens"


def _coordinator(message: Message) -> str:
    name = message.details.get("coordinator_name")
    if isinstance(name, str) and name:
        return f"samordnande part, {name},"
    return "samordnande part"


def _closing(signature: str) -> list[str]:
    return ["", "Vänliga hälsningar", signature, "", "Det här meddelandet skickas automatiskt."]


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines) + "\n"
