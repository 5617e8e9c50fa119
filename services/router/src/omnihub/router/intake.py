"""Intake: inbound messages become conversations (new, continued, reopened, voice events, customers leaving)."""

from __future__ import annotations

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import new_id
from omnihub.common.logging import get_logger
from omnihub.router.customers import Customers
from omnihub.router.offers import Offers
from omnihub.router.records import Record, dur, ts
from omnihub.router.state import RouterState
from omnihub.router.stats import Stats
from omnihub.router.timers import WrapUps

log = get_logger("omnihub.router")
PREVIEW_CHARS = 140  # a conversation's preview: the start of its latest message


class Intake:
    """Attaches inbound messages to conversations and queues the new ones."""

    def __init__(self, state: RouterState, customers: Customers, offers: Offers, wrapups: WrapUps,
                 stats: Stats) -> None:
        self.state = state
        self.config = state.config
        self.engine = state.engine
        self.outbox = state.outbox
        self.records = state.records
        self.customers = customers
        self.offers = offers
        self.wrapups = wrapups
        self.stats = stats

    def intake(self, messages: list[messaging_pb2.InboundMessage]) -> None:
        """Attach a batch of inbound messages to conversations and route them (under the outbox's lock)."""
        now = self.state.clock()
        for msg in messages:
            try:
                self._intake_one(msg, now)
            except Exception:
                log.exception("router.intake_failed", message_id=msg.id)
                raise

    def pick_queue(self, hints: messaging_pb2.RoutingHints, channel: str) -> str:
        """Queue from the channel's hints: explicit queue, entry point or topic mapping, default."""
        if hints.queue in self.engine.queues:
            return hints.queue
        for e in self.config.entry_points:
            if e.match in (hints.entry_point, hints.topic, f"channel:{channel}"):
                return e.queue
        if hints.topic in self.engine.queues:
            return hints.topic
        return self.config.default_queue

    def _intake_one(self, msg: messaging_pb2.InboundMessage, now: float) -> None:
        payload = msg.WhichOneof("payload")
        if payload == "survey_answer" or (payload == "email" and msg.email.automated):
            return  # surveys go to quality as events; automated mail never opens a conversation
        channel = subjects.channel_token(msg.channel)
        customer_id = self.customers.customer_for(msg, now)
        thread = f"{channel}:{msg.thread_key or msg.identity.source_id}"
        rec = self.records.get(self.customers.threads.get(thread, ""))
        if payload == "voice":
            self._voice(rec, msg, now, customer_id, thread)
            return
        if payload == "session_ended":
            if rec is not None:
                self._customer_left(rec, now, msg.session_ended.reason or "closed")
            return
        if rec is None:
            rec = self._open(msg, now, customer_id, thread)
            self._message_created(rec, msg)
            self.offers.enqueue(rec, now, reason="new")
            return
        if rec.conv.status == routing_pb2.CONVERSATION_STATUS_RESOLVED:
            self._message_created(rec, msg)
            self._reopen(rec, now)
            return
        self._message_created(rec, msg)

    def _open(self, msg: messaging_pb2.InboundMessage, now: float, customer_id: str, thread: str,
              ) -> Record:
        channel = subjects.channel_token(msg.channel)
        queue = self.pick_queue(msg.routing_hints, channel)
        qconf = self.engine.queues[queue]
        conv = routing_pb2.Conversation(
            id=new_id("cnv"), channel=msg.channel, customer_id=customer_id, identity=msg.identity,
            thread_key=msg.thread_key or msg.identity.source_id,
            status=routing_pb2.CONVERSATION_STATUS_OPEN, queue=queue,
            priority=msg.routing_hints.priority or qconf.priority, create_time=ts(now),
            customer_display_name=msg.display_name,
            subject=msg.email.subject if msg.WhichOneof("payload") == "email" else "",
        )
        rec = Record(conv, first_enqueue=now)
        rec.routing.extra_skills = tuple(sorted((s.name, s.min_level) for s in msg.routing_hints.skills))
        returning = self.customers.returning_agent(customer_id, now)
        if returning:
            rec.routing.preferred_agent = returning
            rec.routing.preferred_until = now + qconf.returning_agent_seconds
        self.records[conv.id] = rec
        self.customers.threads[thread] = conv.id  # rebuilt from the conversation records on restore
        self.outbox.event(rec, conversation_created=event_pb2.ConversationCreated(conversation=conv))
        return rec

    def _reopen(self, rec: Record, now: float) -> None:
        conv = rec.conv
        if conv.routing_state == routing_pb2.ROUTING_STATE_WRAP_UP:  # the customer wrote during wrap-up:
            self.wrapups.finish(rec, now)
        previous = conv.assigned_agent
        conv.status = routing_pb2.CONVERSATION_STATUS_OPEN
        conv.ClearField("close_time")
        conv.assigned_agent = ""
        conv.resolved = False
        conv.disposition = ""
        self.outbox.event(rec, conversation_reopened=event_pb2.ConversationReopened(previous_agent=previous))
        rec.routing.direct = False
        rec.closed_hours_notified = False  # after hours again, the customer hears so again
        if previous:
            rec.routing.preferred_agent = previous
            rec.routing.preferred_until = now + self.engine.queues[conv.queue].returning_agent_seconds
        rec.first_enqueue = now
        rec.answered_once = False
        self.offers.enqueue(rec, now, reason="reopened")

    def _message_created(self, rec: Record, msg: messaging_pb2.InboundMessage) -> None:
        conv = rec.conv
        payload = msg.WhichOneof("payload")
        m = messaging_pb2.Message(
            id=msg.id, conversation_id=conv.id, direction=messaging_pb2.DIRECTION_INCOMING,
            channel=msg.channel, create_time=msg.receive_time, provider_message_id=msg.provider_message_id,
            contact_email=msg.contact_email)
        if payload == "text":
            m.text = msg.text.text
            m.attachments.extend(msg.text.attachments)
        elif payload == "email":
            m.text, m.subject, m.sanitized_html = msg.email.text, msg.email.subject, msg.email.sanitized_html
            m.attachments.extend(msg.email.attachments)
            m.reply_all_cc.extend(msg.email.reply_all_cc)
        conv.preview = (m.text or m.subject)[:PREVIEW_CHARS]
        conv.last_activity_time.CopyFrom(msg.receive_time)
        if conv.routing_state in (routing_pb2.ROUTING_STATE_ASSIGNED, routing_pb2.ROUTING_STATE_OFFERED):
            conv.unread_count += 1
        self.state.save(rec)
        # the id comes from the inbound message, so a redelivered one dedupes in NATS
        self.outbox.event(rec, event_id=f"evt_in_{msg.id}", message_created=event_pb2.MessageCreated(message=m))

    def _voice(self, rec: Record | None, msg: messaging_pb2.InboundMessage, now: float,
               customer_id: str, thread: str) -> None:
        v = msg.voice
        if v.event in (messaging_pb2.CALL_EVENT_TYPE_RINGING, messaging_pb2.CALL_EVENT_TYPE_IVR_CHOICE):
            return  # the call is still in the IVR; it opens a conversation when queued
        if rec is None:
            if v.event not in (messaging_pb2.CALL_EVENT_TYPE_QUEUED, messaging_pb2.CALL_EVENT_TYPE_VOICEMAIL,
                               messaging_pb2.CALL_EVENT_TYPE_CALLBACK_REQUESTED):
                return
            rec = self._open(msg, now, customer_id, thread)
            self._message_created(rec, msg)
            self.offers.enqueue(rec, now, reason="new")
        conv = rec.conv
        if v.event == messaging_pb2.CALL_EVENT_TYPE_ABANDONED:
            self._customer_left(rec, now, "hangup")
        elif v.event == messaging_pb2.CALL_EVENT_TYPE_CALLBACK_REQUESTED:
            conv.callback = True
            self.state.save(rec)
        elif v.event == messaging_pb2.CALL_EVENT_TYPE_VOICEMAIL:
            conv.preview = (v.transcript or "voicemail")[:PREVIEW_CHARS]
            if v.recording_uri:
                conv.recording_uri = v.recording_uri
            self.state.save(rec)
        elif v.event == messaging_pb2.CALL_EVENT_TYPE_COMPLETED:
            if v.recording_uri:
                conv.recording_uri = v.recording_uri
            self.state.save(rec)
        elif v.recording_uri:
            conv.recording_uri = v.recording_uri
            self.state.save(rec)

    def _customer_left(self, rec: Record, now: float, reason: str) -> None:
        conv = rec.conv
        if conv.routing_state not in (routing_pb2.ROUTING_STATE_QUEUED, routing_pb2.ROUTING_STATE_OFFERED):
            return  # already answered: leaving is the normal end of the talk
        if conv.routing_state == routing_pb2.ROUTING_STATE_OFFERED:
            self.offers.withdraw(rec, now, "withdrawn", why="customer_left")
        self.engine.remove(conv.id)
        waited = now - rec.first_enqueue
        conv.routing_state = routing_pb2.ROUTING_STATE_ABANDONED
        conv.status = routing_pb2.CONVERSATION_STATUS_RESOLVED
        conv.close_time.CopyFrom(ts(now))
        self.stats.abandoned(conv.queue, now, waited)
        self.state.save(rec)
        self.outbox.event(rec, conversation_abandoned=event_pb2.ConversationAbandoned(
            queue=conv.queue, wait_duration=dur(waited), reason=reason))

