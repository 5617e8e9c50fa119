"""WhatsApp and WeChat are channels the router knows: capacity, reservation timeouts, auto-accept."""

from __future__ import annotations

from omnihub.router import engine as eng
from omnihub.router.config import parse_routing_config

CONFIG = """
version: 1
queues:
  - {name: support}
agents:
  - {id: alice, queues: [support], capacity: {whatsapp: 2}, auto_accept: [wechat]}
"""


def test_whatsapp_and_wechat_have_capacity_timeouts_and_auto_accept() -> None:
    config = parse_routing_config(CONFIG).config
    alice = config.agents[0]
    assert alice.capacity_for("whatsapp") == 2
    assert alice.capacity_for("wechat") == 3  # the default for messaging channels
    assert alice.auto_accepts("wechat") and not alice.auto_accepts("whatsapp")
    timeouts = config.defaults.reservation_timeout_seconds
    assert timeouts["whatsapp"] == timeouts["wechat"] == 30
    engine = eng.Engine(config)
    assert engine.agents["alice"].capacity["wechat"] == 3
    assert engine.agents["alice"].capacity["whatsapp"] == 2
