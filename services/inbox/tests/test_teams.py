"""Teams from users.yaml (who a supervisor sees) and who is present in a conversation, without a hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox.auth import Session
from omnihub.inbox.config import InboxSettings, User, load_users
from omnihub.inbox.presence import present
from omnihub.inbox.teams import scope

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
USERS = {u.id: u for u in (
    User("alice", "Alice", "agent", HASH, ("north",)), User("bob", "Bob", "agent", HASH, ("south",)),
    User("chen", "Chen", "agent", HASH, ("north", "south")), User("sam", "Sam", "supervisor", HASH, ("north",)),
    User("sue", "Sue", "supervisor", HASH, ("south",)), User("max", "Max", "supervisor", HASH),
    User("ada", "Ada", "admin", HASH, ("north",)))}
AGENTS = routing_pb2.ListAgentsResponse(agents=[
    routing_pb2.Agent(id="alice", queues=["support"]), routing_pb2.Agent(id="bob", queues=["sales"]),
    routing_pb2.Agent(id="chen", queues=["general"])])


def session(user: str) -> Session:
    return Session(user, USERS[user].role, USERS[user].display_name, "csrf", 0.0)


def conv(agent: str = "", queue: str = "support") -> routing_pb2.Conversation:
    return routing_pb2.Conversation(id="c", assigned_agent=agent, queue=queue)


def test_a_supervisor_sees_their_teams_agents_and_the_queues_they_serve() -> None:
    sam = scope(USERS, session("sam"), AGENTS)
    assert sam.agents == frozenset({"alice", "chen"}) and sam.queues == frozenset({"support", "general"})
    assert sam.sees(conv("alice")) and sam.sees(conv("chen")) and not sam.sees(conv("bob"))
    assert sam.sees(conv(queue="support")) and not sam.sees(conv(queue="sales"))  # waiting: by the team's queues
    assert not sam.sees(conv("bob", queue="support"))  # held by another team's agent
    sue = scope(USERS, session("sue"), AGENTS)
    assert sue.agents == frozenset({"bob", "chen"}) and not sue.sees(conv("alice")) and sue.sees_agent("bob")


def test_admins_and_supervisors_without_a_team_see_everything_agents_themselves() -> None:
    for user in ("ada", "max"):
        everything = scope(USERS, session(user), AGENTS)
        assert everything.everything and everything.sees(conv("bob", "sales")) and everything.sees_agent("x")
    alice = scope(USERS, session("alice"), AGENTS)
    assert alice.agents == frozenset({"alice"}) and not alice.sees_agent("bob")


def test_users_file_team_is_a_name_or_a_list(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(f"users:\n - {{id: a, role: agent, team: north, password_hash: '{HASH}'}}\n"
                    f" - {{id: s, role: supervisor, team: [north, south], password_hash: '{HASH}'}}\n"
                    f" - {{id: n, role: agent, password_hash: '{HASH}'}}\n")
    settings = InboxSettings(inbox_session_key="k" * 32, inbox_users_file=path)  # type: ignore[arg-type]
    users = load_users(settings)
    assert (users["a"].teams, users["s"].teams, users["n"].teams) == (("north",), ("north", "south"), ())
    path.write_text(f"users:\n - {{id: a, role: agent, team: {{x: 1}}, password_hash: '{HASH}'}}\n")
    with pytest.raises(SystemExit):
        load_users(settings)


def test_presence_is_each_supervisors_latest_intervention_until_they_leave() -> None:
    def doc(who: str, action: str, t: float) -> dict[str, object]:
        return {"supervisor_id": who, "supervisor_name": who.title(), "action": action, "time": t}

    docs = [doc("sam", "monitor_start", 1), doc("sue", "monitor_start", 2), doc("sam", "whisper", 3),
            doc("sue", "monitor_stop", 4)]
    assert [(p.supervisor_id, p.action) for p in present(docs)] == [("sam", "whisper")]  # type: ignore[arg-type]
    docs.append(doc("sam", "call_leave", 5))
    assert present(docs) == []  # type: ignore[arg-type]
