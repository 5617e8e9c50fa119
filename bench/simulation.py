"""Seeded simulations through a whole hub that check the model, not the plumbing: a single-skill pool's service
level against Erlang C, and longest-idle against most-skilled routing on a multi-skill center.

They run a compressed half hour of traffic each (minutes of wall time on 2 cores), so they live here rather than in
`make test`, which keeps the every-channel "nothing lost" simulation (tests/e2e/test_simulation.py). Exit status 1
when a check fails.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from omnihub.cli.sim import model
from omnihub.cli.sim.runner import run


async def erlang_c(tmp: Path) -> list[str]:
    """A single-skill pool's measured service level within the model's tolerance of Erlang C's."""
    sc = model.single_skill(3.0, 5, 60, minutes=30, speed=30, seed=11)
    result: dict[str, Any] = await run(sc, tmp, progress=True)
    (only,) = result["runs"]
    (queue,) = only["queues"]
    measured, predicted = queue["measured"]["service_level"], queue["predicted"]["service_level"]
    print(f"erlang C: {only['arrivals']} arrivals, {only['lost_or_duplicated']} lost or duplicated, "
          f"service level measured {measured:.3f} vs Erlang C {predicted:.3f} (tolerance {queue['tolerance']:.3f})")
    problems = []
    if only["conversations"] != only["arrivals"] or only["lost_or_duplicated"]:
        problems.append(f"conversations lost: {only['problems']}")
    if only["replies_delivered"] != only["replies_expected"]:
        problems.append("replies not all delivered")
    if abs(measured - predicted) > queue["tolerance"]:
        problems.append(f"service level {measured:.3f} outside {predicted:.3f} ± {queue['tolerance']:.3f}")
    return problems


async def strategies(tmp: Path) -> list[str]:
    """most_skilled hands each queue to its specialists: a higher answering skill than longest_idle."""
    sc = model.Scenario(
        queues=(model.QueueSpec("billing", skill="billing"), model.QueueSpec("tech", skill="tech")),
        agents=(model.AgentGroup("bill", 2, ("billing", "tech"), (("billing", 10), ("tech", 2))),
                model.AgentGroup("tech", 2, ("billing", "tech"), (("billing", 2), ("tech", 10))),
                model.AgentGroup("gen", 2, ("billing", "tech"), (("billing", 5), ("tech", 5)))),
        streams=(model.Stream("billing", "sms", 1.2, 90), model.Stream("tech", "sms", 1.0, 120)),
        minutes=10, speed=40, seed=9, proficiency=True, compare=("longest_idle", "most_skilled"))
    result: dict[str, Any] = await run(sc, tmp, progress=True)
    idle, skilled = result["runs"]
    problems = [f"{r['strategy']}: lost {r['problems']}" for r in (idle, skilled)
                if r["lost_or_duplicated"] or r["conversations"] != r["arrivals"]]
    for q_idle, q_skilled in zip(idle["queues"], skilled["queues"], strict=True):
        a, b = q_idle["answering_skill_level"], q_skilled["answering_skill_level"]
        print(f"strategies: queue {q_idle['queue']}: answering skill longest_idle {a:.2f}, most_skilled {b:.2f}")
        if not b > a + 1:
            problems.append(f"{q_idle['queue']}: most_skilled {b:.2f} not above longest_idle {a:.2f} + 1")
    return problems


async def main() -> int:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in (("erlang_c", erlang_c), ("strategies", strategies)):
            (Path(tmp) / name).mkdir()
            problems += await check(Path(tmp) / name)
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
