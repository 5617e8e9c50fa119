"""A conference per call and the call controls, over real NATS against the Twilio double's conference resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.voice.v1 import voice_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery, new_event
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import read_events
from omnihub.voice.app import build_app
from omnihub.voice.config import Menu, VoiceConfig
from omnihub.voice.handlers import VoiceChannel

OURS, CALLER, BOSS_PHONE = "+15550002222", "+8613900139000", "+15557770000"
A = voice_pb2.CallAction


def sid(prefix: str, n: int) -> str:
    """A Twilio SID of the real shape: two letters and 32 hex digits."""
    return f"{prefix}{n:032d}"


CUSTOMER = sid("CA", 500)
CONV = "cnv_5"


@dataclass
class Call:
    fake: FakeTwilio
    bus: Bus
    url: str
    channel: VoiceChannel

    async def assign(self, agent: str, destination: str = "") -> None:
        evt = new_event("router", conversation_id=CONV, channel=contact_pb2.CHANNEL_VOICE, thread_key=CUSTOMER,
                        identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_VOICE, source_id=CALLER),
                        conversation_assigned=event_pb2.ConversationAssigned(
                            agent_id=agent, agent_destination=destination or f"client:{agent}"))
        await self.channel.on_assigned(Delivery(evt, "", {}, 1, evt.id, None))  # type: ignore[arg-type]

    async def control(self, action: int, actor: str = "alice", role: str = "agent", target: str = "",
                      digits: str = "", conversation: str = CONV) -> voice_pb2.CallControlReply:
        req = voice_pb2.CallControlRequest(conversation_id=conversation, thread_key=CUSTOMER, actor_id=actor,
                                           actor_role=role, action=action, target=target, digits=digits)  # type: ignore[arg-type]
        reply = await self.bus.nc.request(subjects.VOICE_CONTROL_REQUEST, req.SerializeToString(), timeout=5)
        return voice_pb2.CallControlReply.FromString(reply.data)

    def since(self, mark: int) -> list[tuple[str, str, dict[str, str]]]:
        """The double's requests after `mark`, path relative to the account."""
        prefix = f"/2010-04-01/Accounts/{self.fake.account_sid}"
        return [(m, p.removeprefix(prefix), f) for m, p, f in self.fake.requests[mark:]]


@pytest.fixture
async def call(bus: Bus) -> AsyncIterator[Call]:
    fake = FakeTwilio()
    await fake.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    channel = VoiceChannel(bus, VoiceConfig(menus={"default": Menu(default_queue="support")}), fake.account_sid,
                           fake.auth_token, url, OURS, await bus.kv(subjects.KV_VOICE_CALLS), fake.base_url)
    sub = await bus.nc.subscribe(subjects.VOICE_CONTROL_REQUEST, queue=subjects.VOICE_CONTROL_QUEUE,
                                 cb=channel.conference.on_request)
    runner = web.AppRunner(build_app(channel))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    c = Call(fake, bus, url, channel)
    for path, extra in (("", {}), ("/gather", {"Digits": "2"})):
        resp = await fake.post_webhook(f"{url}/twilio/voice{path}", {"CallSid": CUSTOMER, "From": CALLER, "To": OURS, **extra})
        assert resp.status == 200
    yield c
    await sub.unsubscribe()
    await runner.cleanup()
    await channel.close()
    await fake.stop()


async def test_an_assigned_call_is_a_conference_of_the_customer_and_the_agent(call: Call) -> None:
    await call.assign("alice")
    (_, path, moved), (_, path2, agent) = call.since(0)
    assert path == f"/Calls/{CUSTOMER}.json"
    assert f">{CONV}</Conference>" in moved["Twiml"] and 'endConferenceOnExit="true"' in moved["Twiml"]
    assert 'statusCallbackEvent="start end join leave mute hold"' in moved["Twiml"]
    assert 'record="record-from-start"' in moved["Twiml"]
    assert path2 == f"/Conferences/{CONV}/Participants.json"  # created by the conference's name
    assert agent["To"] == "client:alice" and agent["From"] == OURS and agent["Label"] == "agent"
    assert agent["EndConferenceOnExit"] == "false"
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    conf = call.fake.conferences.by_name(CONV)
    assert conf is not None and state.conference_sid == conf["sid"] and state.customer_call_sid == CUSTOMER
    assert set(call.fake.conferences.participants[conf["sid"]]) == {CUSTOMER, state.agent_call_sid}
    assert state.agent_id == "alice" and not state.on_hold


async def test_each_control_reaches_twilio_with_its_parameters_and_is_an_event(call: Call) -> None:
    await call.assign("alice")
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    conf, agent_leg = state.conference_sid, state.agent_call_sid
    participant = f"/Conferences/{conf}/Participants/{CUSTOMER}.json"

    mark = len(call.fake.requests)
    reply = await call.control(A.CALL_ACTION_HOLD)
    assert reply.status == 200 and reply.state.on_hold
    [(method, path, form)] = call.since(mark)
    assert (method, path, form["Hold"]) == ("POST", participant, "true") and form["HoldUrl"].endswith(".mp3")
    assert call.fake.conferences.participants[conf][CUSTOMER]["hold"] is True

    mark = len(call.fake.requests)
    assert not (await call.control(A.CALL_ACTION_RESUME)).state.on_hold
    assert call.since(mark) == [("POST", participant, {"Hold": "false"})]

    mark = len(call.fake.requests)
    assert (await call.control(A.CALL_ACTION_RECORDING_PAUSE)).state.recording_paused
    assert call.since(mark) == [("POST", f"/Conferences/{conf}/Recordings/Twilio.CURRENT.json",
                                 {"Status": "paused", "PauseBehavior": "skip"})]
    mark = len(call.fake.requests)
    assert not (await call.control(A.CALL_ACTION_RECORDING_RESUME)).state.recording_paused
    assert call.since(mark) == [("POST", f"/Conferences/{conf}/Recordings/Twilio.CURRENT.json", {"Status": "in-progress"})]

    mark = len(call.fake.requests)
    assert (await call.control(A.CALL_ACTION_DTMF, digits="1234#")).status == 200
    [(_, path, form)] = call.since(mark)
    assert path == participant and form["AnnounceMethod"] == "POST"
    announce = form["AnnounceUrl"]
    assert parse_qs(urlsplit(announce).query) == {"digits": ["1234#"]}
    resp = await call.fake.post_webhook(announce, {"AccountSid": call.fake.account_sid, "ConferenceSid": conf})
    assert resp.status == 200 and '<Play digits="1234#" />' in await resp.text()

    events = [e for e in await read_events(call.bus, "call_controlled", count=6) if e.call_controlled.action]
    assert [e.call_controlled.action for e in events] == [A.CALL_ACTION_HOLD, A.CALL_ACTION_RESUME,
                                                          A.CALL_ACTION_RECORDING_PAUSE, A.CALL_ACTION_RECORDING_RESUME,
                                                          A.CALL_ACTION_DTMF]
    assert {(e.conversation_id, e.thread_key, e.call_controlled.actor_id) for e in events} == {(CONV, CUSTOMER, "alice")}

    mark = len(call.fake.requests)
    assert (await call.control(A.CALL_ACTION_HANGUP)).state.ended
    assert call.since(mark) == [("POST", f"/Conferences/{conf}.json", {"Status": "completed"})]
    assert call.fake.conferences.conferences[conf]["status"] == "completed" and agent_leg
    assert (await call.control(A.CALL_ACTION_HOLD)).status == 409


async def test_warm_transfer_consults_then_completes_or_cancels(call: Call) -> None:
    await call.assign("alice")
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    conf, alice_leg = state.conference_sid, state.agent_call_sid

    mark = len(call.fake.requests)
    consult = (await call.control(A.CALL_ACTION_CONSULT, target="client:bob")).state
    (_, hold, held), (_, create, target) = call.since(mark)
    assert hold == f"/Conferences/{conf}/Participants/{CUSTOMER}.json" and held["Hold"] == "true"
    assert create == f"/Conferences/{conf}/Participants.json" and target["To"] == "client:bob"
    assert target["Label"] == "consult" and consult.on_hold and consult.consult_target == "client:bob"
    assert (await call.control(A.CALL_ACTION_CONSULT, target="client:carol")).status == 409

    mark = len(call.fake.requests)
    cancelled = (await call.control(A.CALL_ACTION_CONSULT_CANCEL)).state
    assert [(m, p) for m, p, _ in call.since(mark)] == [
        ("DELETE", f"/Conferences/{conf}/Participants/{consult.consult_call_sid}.json"),
        ("POST", f"/Conferences/{conf}/Participants/{CUSTOMER}.json")]
    assert not cancelled.on_hold and not cancelled.consult_call_sid and cancelled.agent_call_sid == alice_leg

    consult = (await call.control(A.CALL_ACTION_CONSULT, target="+15551230000")).state
    mark = len(call.fake.requests)
    done = (await call.control(A.CALL_ACTION_CONSULT_COMPLETE)).state
    (m1, p1, _), (m2, p2, f2) = call.since(mark)
    assert (m1, p1) == ("DELETE", f"/Conferences/{conf}/Participants/{alice_leg}.json")  # the agent leaves
    assert (m2, p2, f2) == ("POST", f"/Conferences/{conf}/Participants/{CUSTOMER}.json", {"Hold": "false"})
    assert done.agent_call_sid == consult.consult_call_sid and not done.on_hold and not done.agent_id
    assert set(call.fake.conferences.participants[conf]) == {CUSTOMER, consult.consult_call_sid}
    # the one who left may no longer act on the call
    assert (await call.control(A.CALL_ACTION_HOLD)).status == 403


async def test_cold_transfer_to_a_queue_holds_the_customer_until_the_next_agent_joins(call: Call) -> None:
    await call.assign("alice")
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    conf = state.conference_sid
    mark = len(call.fake.requests)
    waiting = (await call.control(A.CALL_ACTION_TRANSFER)).state
    assert [(m, p, f.get("Hold")) for m, p, f in call.since(mark)] == [
        ("POST", f"/Conferences/{conf}/Participants/{CUSTOMER}.json", "true"),
        ("DELETE", f"/Conferences/{conf}/Participants/{state.agent_call_sid}.json", None)]
    assert waiting.on_hold and not waiting.agent_call_sid
    mark = len(call.fake.requests)
    await call.assign("bob")  # the router gave the call to bob
    (_, p1, f1), (_, p2, f2) = call.since(mark)
    assert p1 == f"/Conferences/{conf}/Participants.json" and f1["To"] == "client:bob"  # same conference, by SID
    assert p2 == f"/Conferences/{conf}/Participants/{CUSTOMER}.json" and f2 == {"Hold": "false"}
    now = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    assert now.agent_id == "bob" and not now.on_hold and (await call.control(A.CALL_ACTION_HOLD, actor="bob")).status == 200


async def test_cold_transfer_to_a_number(call: Call) -> None:
    await call.assign("alice")
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    mark = len(call.fake.requests)
    moved = (await call.control(A.CALL_ACTION_TRANSFER, target="+15551239999")).state
    (m1, _, f1), (m2, p2, _) = call.since(mark)
    assert (m1, f1["To"], f1["Label"]) == ("POST", "+15551239999", "transfer")
    assert (m2, p2) == ("DELETE", f"/Conferences/{state.conference_sid}/Participants/{state.agent_call_sid}.json")
    assert moved.agent_call_sid and moved.agent_call_sid != state.agent_call_sid and not moved.on_hold


async def test_supervisor_listens_coaches_and_barges(call: Call) -> None:
    await call.assign("alice")
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    conf = state.conference_sid
    assert (await call.control(A.CALL_ACTION_LISTEN, target="client:alice")).status == 403  # an agent may not
    mark = len(call.fake.requests)
    listening = (await call.control(A.CALL_ACTION_LISTEN, actor="sam", role="supervisor", target=BOSS_PHONE)).state
    [(_, path, form)] = call.since(mark)
    assert path == f"/Conferences/{conf}/Participants.json" and form["To"] == BOSS_PHONE
    assert form["Muted"] == "true" and form["Coaching"] == "false" and form["Label"] == "supervisor"
    assert listening.supervisor_mode == "listen" and listening.supervisor_id == "sam"
    leg = f"/Conferences/{conf}/Participants/{listening.supervisor_call_sid}.json"

    mark = len(call.fake.requests)
    coaching = (await call.control(A.CALL_ACTION_COACH, actor="sam", role="supervisor")).state
    assert call.since(mark) == [("POST", leg, {"Muted": "false", "Coaching": "true",
                                               "CallSidToCoach": state.agent_call_sid})]
    assert coaching.supervisor_mode == "coach"
    assert call.fake.conferences.participants[conf][listening.supervisor_call_sid]["call_sid_to_coach"] == state.agent_call_sid

    mark = len(call.fake.requests)
    assert (await call.control(A.CALL_ACTION_BARGE, actor="sam", role="supervisor")).state.supervisor_mode == "barge"
    assert call.since(mark) == [("POST", leg, {"Muted": "false", "Coaching": "false"})]
    assert (await call.control(A.CALL_ACTION_LISTEN, actor="ada", role="admin", target="client:ada")).status == 409

    mark = len(call.fake.requests)
    left = (await call.control(A.CALL_ACTION_SUPERVISOR_LEAVE, actor="sam", role="supervisor")).state
    assert [(m, p) for m, p, _ in call.since(mark)] == [("DELETE", leg)] and not left.supervisor_call_sid
    events = [e for e in await read_events(call.bus, "call_controlled", count=5) if e.call_controlled.action]
    assert [e.call_controlled.action for e in events] == [A.CALL_ACTION_LISTEN, A.CALL_ACTION_COACH, A.CALL_ACTION_BARGE,
                                                          A.CALL_ACTION_SUPERVISOR_LEAVE]
    assert events[1].call_controlled.target == "alice" and events[0].call_controlled.actor_role == "supervisor"


async def test_bad_controls_are_clear_refusals(call: Call) -> None:
    assert (await call.control(A.CALL_ACTION_HOLD)).status == 404  # not yet in a conference
    await call.assign("alice")
    assert (await call.control(A.CALL_ACTION_HOLD, conversation="cnv_other")).status == 404
    assert (await call.control(A.CALL_ACTION_HOLD, actor="bob")).status == 403
    assert (await call.control(A.CALL_ACTION_DTMF, digits="12<Say>")).status == 400
    assert (await call.control(A.CALL_ACTION_CONSULT)).status == 400
    assert (await call.control(A.CALL_ACTION_CONSULT_COMPLETE)).status == 409
    assert (await call.control(A.CALL_ACTION_TRANSFER, target="x" * 5_000)).status == 400
    garbage = await call.bus.nc.request(subjects.VOICE_CONTROL_REQUEST, b"\xff\x00garbage", timeout=5)
    assert voice_pb2.CallControlReply.FromString(garbage.data).status == 400
    [joined] = await read_events(call.bus, "call_controlled")  # only the agent's joining: nothing was carried out
    assert joined.call_controlled.action == A.CALL_ACTION_UNSPECIFIED and joined.call_controlled.state.agent_call_sid


async def test_conference_callbacks_are_signed_and_keep_the_state(call: Call) -> None:
    await call.assign("alice")
    state = (await call.control(A.CALL_ACTION_UNSPECIFIED)).state
    url = f"{call.url}/twilio/voice/conference?thread={CUSTOMER}&conversation_id={CONV}"
    form = {"ConferenceSid": state.conference_sid, "CallSid": CUSTOMER, "StatusCallbackEvent": "participant-hold",
            "FriendlyName": CONV, "AccountSid": call.fake.account_sid}
    assert (await call.fake.post_webhook(url, form, signature="bm9wZQ==")).status == 403
    assert (await call.fake.post_webhook(url, form)).status == 204
    assert (await call.control(A.CALL_ACTION_UNSPECIFIED)).state.on_hold
    left = form | {"CallSid": state.agent_call_sid, "StatusCallbackEvent": "participant-leave"}
    assert (await call.fake.post_webhook(url, left)).status == 204
    assert not (await call.control(A.CALL_ACTION_UNSPECIFIED)).state.agent_call_sid
    assert (await call.fake.post_webhook(url, form | {"ConferenceSid": "CF1"})).status == 400
    recorded = f"{call.url}/twilio/voice/conference-recording?thread={CUSTOMER}&conversation_id={CONV}"
    resp = await call.fake.post_webhook(recorded, {"ConferenceSid": state.conference_sid, "RecordingSid": sid("RE", 5),
                                                   "RecordingUrl": "https://api.twilio.com/RE5", "RecordingDuration": "61"})
    assert resp.status == 204
    [rec] = await read_events(call.bus, "recording_available", count=1)
    assert rec.conversation_id == CONV and rec.recording_available.recording_uri.endswith("RE5")
    assert rec.recording_available.duration.seconds == 61
    end = {"ConferenceSid": state.conference_sid, "StatusCallbackEvent": "conference-end", "AccountSid": call.fake.account_sid}
    assert (await call.fake.post_webhook(url, end)).status == 204
    assert (await call.control(A.CALL_ACTION_HOLD)).status == 409
