"""The Twilio double's conferences: Conference, Participant and conference Recording resources, with Twilio's form
parameters (Hold, Muted, Coaching, CallSidToCoach...), response JSON and error shape."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

BOOLS = {"true": True, "false": False}
CONFERENCE_IN_TWIML = re.compile(r"<Conference[^>]*>([^<]+)</Conference>")
Error = Callable[[int, int, str], web.Response]
Record = Callable[[web.Request, dict[str, str]], web.Response | None]


@dataclass
class Conferences:
    """Conferences by SID, each with its participants by call SID and its current recording."""

    account_sid: str
    error: Error
    record: Record  # logs a request and answers an auth failure or a programmed one
    conferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    participants: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def routes(self, app: web.Application, base: str) -> None:
        """Register the resources under /2010-04-01/Accounts/{account}."""
        app.router.add_post(f"{base}/Conferences/{{conf}}.json", self._update_conference)
        app.router.add_post(f"{base}/Conferences/{{conf}}/Participants.json", self._create_participant)
        app.router.add_post(f"{base}/Conferences/{{conf}}/Participants/{{call}}.json", self._update_participant)
        app.router.add_delete(f"{base}/Conferences/{{conf}}/Participants/{{call}}.json", self._delete_participant)
        app.router.add_post(f"{base}/Conferences/{{conf}}/Recordings/{{sid}}.json", self._update_recording)

    def by_name(self, name: str) -> dict[str, Any] | None:
        """The live conference of that friendly name."""
        return next((c for c in self.conferences.values()
                     if c["friendly_name"] == name and c["status"] != "completed"), None)

    def _uri(self, *parts: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Conferences/" + "/".join(parts) + ".json"

    def join(self, name: str, call_sid: str, **options: Any) -> dict[str, Any]:
        """A call enters the conference of that name (TwiML <Dial><Conference> or a created participant)."""
        conf = self.by_name(name)
        if conf is None:
            sid = "CF" + secrets.token_hex(16)
            now = formatdate(usegmt=True)
            conf = {"account_sid": self.account_sid, "api_version": "2010-04-01", "date_created": now,
                    "date_updated": now, "friendly_name": name, "region": "us1", "sid": sid,
                    "status": "in-progress", "uri": self._uri(sid), "reason_conference_ended": None,
                    "call_sid_ending_conference": None,
                    "subresource_uris": {"participants": self._uri(sid, "Participants"),
                                         "recordings": self._uri(sid, "Recordings")}}
            self.conferences[sid] = conf
            self.participants[sid] = {}
            self.recordings[sid] = {"sid": "RE" + secrets.token_hex(16), "status": "in-progress"}
        now = formatdate(usegmt=True)
        participant = {"account_sid": self.account_sid, "call_sid": call_sid, "label": options.get("label"),
                       "call_sid_to_coach": options.get("call_sid_to_coach"), "coaching": options.get("coaching", False),
                       "conference_sid": conf["sid"], "date_created": now, "date_updated": now,
                       "end_conference_on_exit": options.get("end_conference_on_exit", False),
                       "muted": options.get("muted", False), "hold": False,
                       "start_conference_on_enter": options.get("start_conference_on_enter", True),
                       "status": "queued" if options.get("dialled") else "connected", "queue_time": None,
                       "uri": self._uri(conf["sid"], "Participants", call_sid)}
        self.participants[conf["sid"]][call_sid] = participant
        return participant

    def join_from_twiml(self, call_sid: str, twiml: str) -> None:
        """Calls.update(Twiml=<Dial><Conference>name</Conference>): the call moves into that conference."""
        for conf in self.participants.values():
            conf.pop(call_sid, None)
        match = CONFERENCE_IN_TWIML.search(twiml or "")
        if match:
            self.join(match.group(1).strip(), call_sid, end_conference_on_exit='endConferenceOnExit="true"' in twiml)

    def _bools(self, form: dict[str, str], names: tuple[str, ...]) -> dict[str, bool] | web.Response:
        values: dict[str, bool] = {}
        for name in names:
            if name in form:
                if form[name].lower() not in BOOLS:
                    return self.error(400, 21218, f"Invalid value for {name}: {form[name]}")
                values[name] = BOOLS[form[name].lower()]
        return values

    def _conference(self, request: web.Request) -> dict[str, Any] | None:
        conf = self.conferences.get(request.match_info["conf"])
        return conf if conf and conf["status"] != "completed" else None

    async def _form(self, request: web.Request) -> tuple[dict[str, str], web.Response | None]:
        form = {k: str(v) for k, v in (await request.post()).items()}
        return form, self.record(request, form)

    async def _create_participant(self, request: web.Request) -> web.Response:
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        for required in ("From", "To"):
            if not form.get(required):
                return self.error(400, 21604 if required == "To" else 21603, f"A '{required}' parameter is required.")
        flags = self._bools(form, ("Muted", "Coaching", "EndConferenceOnExit", "StartConferenceOnEnter", "EarlyMedia",
                                   "Beep"))
        if isinstance(flags, web.Response):
            return flags
        coach = form.get("CallSidToCoach")
        if flags.get("Coaching") and not coach:
            return self.error(400, 16025, "CallSidToCoach is required when Coaching is true")
        name = request.match_info["conf"]
        existing = self.conferences.get(name)
        if existing is not None:
            name = existing["friendly_name"]
        elif name.startswith("CF"):
            return self.error(404, 20404, "The requested resource was not found")
        if coach and not any(coach in p for p in self.participants.values()):
            return self.error(400, 16026, f"Call {coach} to coach is not a participant of this conference")
        participant = self.join(name, "CA" + secrets.token_hex(16), label=form.get("Label"), call_sid_to_coach=coach,
                                coaching=flags.get("Coaching", False), muted=flags.get("Muted", False),
                                end_conference_on_exit=flags.get("EndConferenceOnExit", False),
                                start_conference_on_enter=flags.get("StartConferenceOnEnter", True), dialled=True)
        participant["to"], participant["from"] = form["To"], form["From"]
        return web.json_response(participant, status=201)

    async def _update_participant(self, request: web.Request) -> web.Response:
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        conf = self._conference(request)
        participant = self.participants.get(conf["sid"], {}).get(request.match_info["call"]) if conf else None
        if participant is None:
            return self.error(404, 20404, "The requested resource was not found")
        flags = self._bools(form, ("Muted", "Hold", "Coaching", "EndConferenceOnExit", "BeepOnExit"))
        if isinstance(flags, web.Response):
            return flags
        if flags.get("Coaching") and not (form.get("CallSidToCoach") or participant["call_sid_to_coach"]):
            return self.error(400, 16025, "CallSidToCoach is required when Coaching is true")
        for name, value in flags.items():
            participant[re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()] = value
        if "CallSidToCoach" in form:
            participant["call_sid_to_coach"] = form["CallSidToCoach"] or None
        if participant.get("coaching") is False:
            participant["call_sid_to_coach"] = None
        participant["date_updated"] = formatdate(usegmt=True)
        return web.json_response(participant)

    async def _delete_participant(self, request: web.Request) -> web.Response:
        _form, refused = await self._form(request)
        if refused is not None:
            return refused
        conf = self._conference(request)
        if conf is None or self.participants[conf["sid"]].pop(request.match_info["call"], None) is None:
            return self.error(404, 20404, "The requested resource was not found")
        return web.Response(status=204)

    async def _update_conference(self, request: web.Request) -> web.Response:
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        conf = self._conference(request)
        if conf is None:
            return self.error(404, 20404, "The requested resource was not found")
        if form.get("Status") not in (None, "completed"):
            return self.error(400, 21218, f"Invalid value for Status: {form.get('Status')}")
        if form.get("Status") == "completed":
            conf.update(status="completed", reason_conference_ended="conference-ended-via-api")
            self.participants[conf["sid"]].clear()
        return web.json_response(conf)

    async def _update_recording(self, request: web.Request) -> web.Response:
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        conf = self._conference(request)
        rec = self.recordings.get(conf["sid"]) if conf else None
        if conf is None or rec is None or request.match_info["sid"] not in ("Twilio.CURRENT", rec["sid"]):
            return self.error(404, 20404, "The requested resource was not found")
        if form.get("Status") not in ("paused", "in-progress", "stopped"):
            return self.error(400, 21218, f"Invalid value for Status: {form.get('Status')}")
        if form.get("PauseBehavior") not in (None, "skip", "silence"):
            return self.error(400, 21218, f"Invalid value for PauseBehavior: {form.get('PauseBehavior')}")
        rec["status"] = form["Status"]
        return web.json_response({"account_sid": self.account_sid, "api_version": "2010-04-01", "call_sid": None,
                                  "conference_sid": conf["sid"], "sid": rec["sid"], "status": rec["status"],
                                  "channels": 2, "source": "OutboundAPI", "error_code": None, "duration": None,
                                  "price": None, "price_unit": "USD", "start_time": conf["date_created"],
                                  "date_created": conf["date_created"], "date_updated": formatdate(usegmt=True),
                                  "uri": self._uri(conf["sid"], "Recordings", rec["sid"])})
