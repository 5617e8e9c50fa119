"""TwiML documents, built only with twilio.twiml (never by string formatting)."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from omnihub.voice.config import Menu


def menu_prompt(menu: Menu) -> str:
    """What the IVR says after the greeting."""
    return menu.prompt or " ".join(f"For {o.label}, press {o.digit}." for o in menu.options)


def greeting(menu: Menu, base: str) -> str:
    """Greeting and the IVR menu (DTMF and speech); no input falls through to the default queue."""
    r = VoiceResponse()
    gather = Gather(input="dtmf speech", num_digits=1, timeout=6, action=f"{base}/twilio/voice/gather",
                    language=menu.language, hints=", ".join(w for o in menu.options for w in o.words) or None)
    gather.say(f"{menu.greeting} {menu_prompt(menu)}", language=menu.language)
    r.append(gather)
    r.redirect(f"{base}/twilio/voice/gather", method="POST")
    return str(r)


def enqueue(queue: str, base: str, language: str) -> str:
    """Put the caller in a Twilio queue with our wait URL."""
    r = VoiceResponse()
    r.say("Please hold while we connect you.", language=language)
    r.enqueue(queue, wait_url=f"{base}/twilio/voice/wait", wait_url_method="POST",
              action=f"{base}/twilio/voice/queue-result", method="POST")
    return str(r)


def waiting(position: int, wait_seconds: float, base: str, callback_digit: str, language: str) -> str:
    """Wait music: the position, the estimated wait and the callback offer."""
    r = VoiceResponse()
    minutes = max(1, round(wait_seconds / 60))
    words = f"You are number {position} in line." if position else "You are in line."
    words += f" The estimated wait is about {minutes} minute{'s' if minutes != 1 else ''}."
    gather = Gather(num_digits=1, timeout=8, action=f"{base}/twilio/voice/callback", input="dtmf")
    gather.say(f"{words} To be called back instead, press {callback_digit}.", language=language)
    r.append(gather)
    r.play("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3")
    return str(r)


def callback_confirmed(language: str) -> str:
    """The caller chose a callback: confirm and leave the queue."""
    r = VoiceResponse()
    r.say("Thank you. We will call you back as soon as an agent is free. Goodbye.", language=language)
    r.leave()
    return str(r)


def voicemail(base: str, language: str) -> str:
    """Outside business hours: record a voicemail with transcription."""
    r = VoiceResponse()
    r.say("We are closed right now. Please leave a message after the tone and we will call you back.",
          language=language)
    r.record(max_length=120, transcribe=True, transcribe_callback=f"{base}/twilio/voice/transcription",
             action=f"{base}/twilio/voice/voicemail", play_beep=True,
             recording_status_callback=f"{base}/twilio/voice/recording")
    r.hangup()
    return str(r)


def join_conference(name: str, base: str, query: str) -> str:
    """Put the customer in the call's conference (the model Flex uses): the conference ends when they leave, is
    recorded from the start, and reports its participants' joins, leaves, holds and mutes to us."""
    r = VoiceResponse()
    dial = Dial()
    dial.conference(name, start_conference_on_enter=True, end_conference_on_exit=True, beep=False,
                    wait_url="http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3",
                    status_callback=f"{base}/twilio/voice/conference?{query}", status_callback_method="POST",
                    status_callback_event="start end join leave mute hold",
                    record="record-from-start",
                    recording_status_callback=f"{base}/twilio/voice/conference-recording?{query}",
                    recording_status_callback_event="completed")
    r.append(dial)
    return str(r)


def play_digits(digits: str) -> str:
    """DTMF tones played into the conference to one participant (an announcement)."""
    r = VoiceResponse()
    r.play(digits=digits)
    return str(r)


def empty() -> str:
    """An empty response."""
    return str(VoiceResponse())


TWILIO_VERBS = frozenset({"Response", "Say", "Play", "Pause", "Gather", "Dial", "Number", "Client", "Sip", "Queue",
                          "Enqueue", "Leave", "Hangup", "Redirect", "Reject", "Record", "Conference", "Sms",
                          "Message", "Connect", "Stream", "Parameter", "Identity"})
