"""Teams (users.yaml, SSO team claims): a supervisor sees their teams' agents and conversations, an agent their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox.auth import Session
from omnihub.inbox.config import User
from omnihub.inbox.directory import Directory

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose work a user may see: every agent's (`agents` None) or these agents' and the queues they serve."""

    agents: frozenset[str] | None
    queues: frozenset[str] = frozenset()  # a team's queues: where its conversations wait before an agent has them

    @property
    def everything(self) -> bool:
        """True for admins and supervisors without a team (they supervise the whole center)."""
        return self.agents is None

    def sees_agent(self, agent_id: str) -> bool:
        """Whether this agent's work is in scope."""
        return self.agents is None or agent_id in self.agents

    def sees(self, conv: routing_pb2.Conversation) -> bool:
        """A conversation is in scope when one of the agents holds it, or nobody does and it waits in their queue."""
        if self.agents is None:
            return True
        if conv.assigned_agent:
            return conv.assigned_agent in self.agents
        return conv.queue in self.queues


def team_agents(users: Mapping[str, User], session: Session) -> frozenset[str] | None:
    """The agents a user may see: None (all) for admins and supervisors without a team, else their teams' agents:
    users.yaml's and those whose last SSO sign-in claimed one of the teams (`Directory.sso`, kept in MongoDB)."""
    if session.role == "agent":
        return frozenset({session.user})
    user = users.get(session.user)
    teams = set(session.teams or (user.teams if user else ()))  # an SSO team claim, else users.yaml
    if session.role == "admin" or not teams:
        return None
    directory = users if isinstance(users, Directory) else Directory(dict(users))
    return frozenset(a for a in directory.agents() if teams.intersection(directory.teams_of(a)))


def scope(users: Mapping[str, User], session: Session, agents: routing_pb2.ListAgentsResponse | None = None) -> Scope:
    """The user's scope; `agents` (the router's) gives the team's queues, for conversations not yet with an agent."""
    members = team_agents(users, session)
    if members is None:
        return Scope(None)
    queues = frozenset(q for a in (agents.agents if agents else ()) if a.id in members for q in a.queues)
    return Scope(members, queues)


async def scope_of(inbox: Inbox, session: Session) -> Scope:
    """The session's scope, asking the router for the team's queues only when there is a team."""
    members = team_agents(inbox.users, session)
    if members is None or session.role == "agent":
        return Scope(members)
    return scope(inbox.users, session, await inbox._rpc(inbox.router.ListAgents(routing_pb2.ListAgentsRequest())))


async def require(inbox: Inbox, session: Session, conv: routing_pb2.Conversation) -> None:
    """403 unless a supervisor's teams hold the conversation or serve its queue (agents are checked as holders)."""
    if session.role == "supervisor" and not (await scope_of(inbox, session)).sees(conv):
        raise web.HTTPForbidden(text="this conversation is not in your team")


async def require_agent(inbox: Inbox, session: Session, agent_id: str) -> None:
    """403 unless this agent's work is in the session's scope (404 for an agent nobody knows)."""
    if team_agents(inbox.users, session) is None:
        return  # the router answers for unknown agents
    if not inbox.users.knows(agent_id):
        raise web.HTTPNotFound(text="unknown agent")
    if not (await scope_of(inbox, session)).sees_agent(agent_id):
        raise web.HTTPForbidden(text="this agent is not in your team")
