"""The words of each notification: an email's subject, plain text and HTML (escaped), with
the circle's, member's and place's names and a link to the live page."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ALARMS = {
    "alarm:sos": "pressed SOS",
    "alarm:fall_down": "may have fallen",
    "alarm:low_battery": "has a low battery",
    "alarm:low_power": "has a low battery",
    "alarm:power_cut": "lost external power",
    "alarm:removing": "was removed",
    "alarm:tamper": "was tampered with",
    "alarm:overspeed": "is over the speed limit",
    "alarm:accident": "may have had an accident",
}

_NOTICES = {
    "renewal_reminder": "Your annual subscription renews on {renewal_at}",
    "price_change": "Your price changes from {effective_at}",
    "payment_failed": "Your payment failed: please update it by {grace_end}",
    "trial_ending": "Your free trial ends on {trial_end}",
    "ended": "Your subscription ended",
    "withdrawal_confirmed": "Your withdrawal is confirmed",
}


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    html: str


def _day(value: Any) -> str:
    return str(value or "")[:10]


def headline(kind: str, payload: Mapping[str, Any], who: str, place: str | None) -> str:
    subject = payload.get("subject") or {}
    if kind in ("enter", "exit"):
        verb = "arrived at" if kind == "enter" else "left"
        return f"{who} {verb} {place or 'a place'}"
    if kind.startswith("airport_") or kind == "flight_landed":
        airport = subject.get("airport") or {}
        name = airport.get("name") or airport.get("iata") or "an airport"
        what = {
            "airport_arrival": "arrived at",
            "airport_departure": "left",
            "flight_landed": "landed at",
        }.get(kind, "at")
        return f"{who} {what} {name}"
    if kind in _ALARMS:
        return f"{who}'s device {_ALARMS[kind]}"
    if kind == "battery_low":
        level = (subject.get("details") or {}).get("battery_pct")
        return (
            f"{who}'s phone battery is low ({level:.0f}%)"
            if level is not None
            else (f"{who}'s phone battery is low")
        )
    if kind == "tracking_stopped":
        return f"{who}'s device stopped reporting"
    if kind == "back_online":
        return f"{who}'s device is reporting again"
    if kind in _NOTICES:
        fields = {k: _day(v) for k, v in payload.get("fields", {}).items()}
        try:
            return _NOTICES[kind].format(**fields)
        except (KeyError, IndexError):  # a field the notice did not carry
            return kind.replace("_", " ").capitalize()
    return kind.replace("_", " ")


def email(
    kind: str,
    payload: Mapping[str, Any],
    *,
    recipient: str | None,
    circle: str | None,
    who: str,
    place: str | None,
    live_url: str,
) -> Message:
    head = headline(kind, payload, who, place)
    lines = [f"Hello {recipient or ''},".replace(" ,", ","), "", head + "."]
    if circle:
        lines.append(f"Circle: {circle}")
    when = payload.get("time")
    if when:
        lines.append(f"Time: {str(when)[:19].replace('T', ' ')} UTC")
    position = (payload.get("subject") or {}).get("position") or {}
    if "lat" in position and "lon" in position:
        lines.append(f"Last known position: {position['lat']:.5f}, {position['lon']:.5f}")
    fields = payload.get("fields") or {}
    for key, value in fields.items():
        if key not in ("stops",):
            lines.append(f"{key.replace('_', ' ')}: {value}")
    for stop in fields.get("stops", ()) or ():
        lines.append(f"On Free: {stop.get('feature')} ({stop.get('plan')} -> {stop.get('free')})")
    lines += ["", f"Open the live map: {live_url}"]
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines[:-1] if line)
    page = (
        f"<html><body>{body}"
        f'<p><a href="{html.escape(live_url, quote=True)}">Open the live map</a></p>'
        "</body></html>"
    )
    return Message(f"[trackgw] {head}", text, page)
