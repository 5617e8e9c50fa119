"""QA sampling policies from qa.yaml: a fraction per queue, channel or agent, a minimum per agent, low CSAT."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnihub.common.config import fail
from omnihub.quality.sampling import Candidate

Fraction = Field(ge=0.0, le=1.0)


class Policy(BaseModel):
    """How many handled conversations of a recent window evaluators review, and which ones first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    days: int = Field(ge=1, le=92)  # the window: the last `days` days
    fraction: float = Fraction  # of each agent's conversations, unless an override below applies
    minimum: int = Field(default=0, ge=0, le=1000)  # per agent and window (a weekly policy: per week)
    stratify_by_channel: bool = True
    queues: dict[str, float] = Field(default_factory=dict)  # queue -> fraction (0: never sampled)
    channels: dict[str, float] = Field(default_factory=dict)  # channel token -> fraction
    agents: dict[str, float] = Field(default_factory=dict)  # agent -> fraction (e.g. new agents: more)
    low_csat: int | None = Field(default=None, ge=1, le=5)  # every conversation rated at most this is added

    def overrides(self) -> bool:
        """Whether any queue, channel or agent has a fraction of its own."""
        return bool(self.queues or self.channels or self.agents)

    def rate(self, c: Candidate) -> float:
        """The fraction for one conversation: its agent's, else its queue's, else its channel's, else the policy's."""
        for table, key in ((self.agents, c.agent_id), (self.queues, c.queue), (self.channels, c.channel)):
            if key in table:
                return table[key]
        return self.fraction


class PolicyFile(BaseModel):
    """qa.yaml."""

    model_config = ConfigDict(extra="forbid")

    policies: list[Policy] = Field(min_length=1)


DEFAULT = (Policy(id="daily", days=1, fraction=0.1, minimum=1), Policy(id="weekly", days=7, fraction=0.05, minimum=3))


def load_policies(config_dir: Path) -> dict[str, Policy]:
    """The policies of `config_dir/qa.yaml` by id (the two defaults without the file), or exit 2 naming the problem."""
    path = config_dir / "qa.yaml"
    if not path.exists():
        return {p.id: p for p in DEFAULT}
    try:
        data = PolicyFile.model_validate(yaml.safe_load(path.read_text()) or {})
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        fail(f"invalid QA policies file {path}: {exc}")
    for p in data.policies:
        for name, table in (("queues", p.queues), ("channels", p.channels), ("agents", p.agents)):
            if any(not 0.0 <= v <= 1.0 for v in table.values()):
                fail(f"invalid QA policies file {path}: policy {p.id}: {name} fractions must be between 0 and 1")
    ids = [p.id for p in data.policies]
    if len(set(ids)) != len(ids):
        fail(f"invalid QA policies file {path}: policy ids must be unique")
    return {p.id: p for p in data.policies}
