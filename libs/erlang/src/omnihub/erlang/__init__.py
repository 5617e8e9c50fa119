"""Erlang C and Erlang A staffing maths, in floating point via the Erlang B recursion."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

MAX_AGENTS = 5_000  # the largest headcount any question may need or ask about
MAX_ARRIVALS = 1_000_000.0
MAX_SECONDS = 86_400.0


class StaffingError(ValueError):
    """A staffing question that cannot be answered; the message names the parameter and the reason."""


def check_inputs(arrivals: float, interval: float, aht: float, target: float, threshold: float,
                 shrinkage: float = 0.0, max_occupancy: float = 0.0, patience: float = 0.0, agents: int = 0) -> None:
    """Refuse what would loop forever or run unbounded (a target of 1 or more, NaN, zero AHT, huge loads)."""
    def finite(name: str, value: float, low: float, high: float, low_open: bool = False) -> None:
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            bound = f"({low:g}" if low_open else f"[{low:g}"
            raise StaffingError(f"{name} must be a finite number in {bound}, {high:g}]; got {value!r}")

    finite("arrivals", arrivals, 0.0, MAX_ARRIVALS)
    finite("interval", interval, 60.0, MAX_SECONDS)
    finite("aht", aht, 0.0, MAX_SECONDS, low_open=True)
    if not math.isfinite(target) or not 0 < target < 1:
        raise StaffingError(f"the target fraction must be in (0, 1), e.g. 0.8/20; got {target!r}")
    finite("target seconds", threshold, 0.0, 3600.0)
    if not math.isfinite(shrinkage) or not 0 <= shrinkage < 1:
        raise StaffingError(f"shrinkage must be in [0, 1); got {shrinkage!r}")
    if max_occupancy:
        finite("max_occupancy", max_occupancy, 0.0, 1.0, low_open=True)
    if patience:
        finite("patience", patience, 1.0, MAX_SECONDS)
    if not 0 <= agents <= MAX_AGENTS:
        raise StaffingError(f"agents must be between 0 and {MAX_AGENTS}; got {agents}")
    traffic = arrivals * aht / interval
    if traffic > MAX_AGENTS * (max_occupancy or 1.0):
        raise StaffingError(f"the offered load ({traffic:.0f} Erlangs) needs more than {MAX_AGENTS} agents; "
                            "ask about a shorter interval or fewer arrivals")


def _in_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise StaffingError("the computation took too long; ask for a smaller load, a shorter target time or "
                            "a longer patience")


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability B(N, A) by the stable recursion B(k) = A·B(k-1) / (k + A·B(k-1))."""
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a contact waits, Pw = N·B / (N − A·(1 − B)); 1.0 when N ≤ A."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1 - b))


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a headcount gives for one interval."""

    agents: int
    traffic: float
    probability_wait: float
    service_level: float
    asa: float
    occupancy: float
    abandonment: float = 0.0
    model: str = "erlang_c"


def predict(arrivals: float, interval: float, aht: float, agents: int, threshold: float) -> Prediction:
    """Erlang C: SL(T) = 1 − Pw·e^(−(N−A)·T/AHT), ASA = Pw·AHT/(N−A), occupancy = A/N."""
    traffic = arrivals * aht / interval
    pw = erlang_c(traffic, agents)
    if agents <= traffic:
        return Prediction(agents, traffic, 1.0, 0.0, math.inf, 1.0)
    sl = 1 - pw * math.exp(-(agents - traffic) * threshold / aht)
    asa = pw * aht / (agents - traffic)
    return Prediction(agents, traffic, pw, sl, asa, traffic / agents)


def predict_erlang_a(arrivals: float, interval: float, aht: float, agents: int, threshold: float,
                     patience: float, deadline: float | None = None) -> Prediction:
    """Erlang A (M/M/N+M) from its birth-death chain: abandonment rate 1/patience while waiting."""
    lam, mu, theta = arrivals / interval, 1 / aht, 1 / patience
    # Unnormalised state probabilities p(n); queue states are truncated when they vanish.
    probs = [1.0]
    for n in range(1, agents + 1):
        probs.append(probs[-1] * lam / (n * mu))
    n = agents
    while True:
        n += 1
        nxt = probs[-1] * lam / (agents * mu + (n - agents) * theta)
        probs.append(nxt)
        if nxt < 1e-12 * sum(probs) or n > agents + 10_000:
            break
        if n % 256 == 0:
            _in_time(deadline)
    total = sum(probs)
    p = [x / total for x in probs]
    pw = sum(p[agents:])
    queue_len = sum((k - agents) * p[k] for k in range(agents, len(p)))
    abandon_rate = theta * queue_len / lam if lam else 0.0
    # Service level as the wallboard shows it (formula B): answered within T ÷ answered.
    answered = 1 - abandon_rate
    within = sum(p[:agents]) + served_within(p[agents:], agents * mu, theta, threshold, deadline)
    served_within_share = min(1.0, within / answered) if answered > 0 else 0.0
    asa = queue_len / lam if lam else 0.0
    traffic = lam * aht
    occupancy = min(1.0, traffic * (1 - abandon_rate) / agents)
    return Prediction(agents, traffic, pw, served_within_share, asa, occupancy, abandon_rate, "erlang_a")


def served_within(waiting: list[float], service_rate: float, theta: float, threshold: float,
                  deadline: float | None = None) -> float:
    """Probability of waiting, then reaching an agent within `threshold` (Erlang A, by uniformization).

    `waiting[m]` is the chance an arrival finds m others waiting (PASTA). With m ahead it moves up at
    rate N·mu + m·theta (a service or an abandon ahead of it) and gives up itself at rate theta.
    """
    if not waiting or threshold <= 0:
        return 0.0
    size = len(waiting)
    uniform = service_rate + size * theta
    mean = uniform * threshold
    steps = int(mean + 10 * math.sqrt(mean) + 20)
    v = list(waiting)
    advance = [(service_rate + m * theta) / uniform for m in range(size)]
    stay = [1 - advance[m] - theta / uniform for m in range(size)]
    served = total = 0.0
    for n in range(steps + 1):
        if n % 64 == 0:
            _in_time(deadline)
        total += math.exp(-mean + n * math.log(mean) - math.lgamma(n + 1)) * served  # Poisson(n) weight
        served += v[0] * advance[0]
        v = [v[m] * stay[m] + (v[m + 1] * advance[m + 1] if m + 1 < size else 0.0) for m in range(size)]
    return total


def required_agents(arrivals: float, interval: float, aht: float, target: float, threshold: float,
                    max_occupancy: float = 1.0, patience: float = 0.0, deadline: float | None = None) -> Prediction:
    """Smallest headcount meeting the SL target (and the occupancy cap, when given), up to MAX_AGENTS."""
    if not 0 < target < 1:  # a target of 1 is never met: the search would not end
        raise StaffingError(f"the target fraction must be in (0, 1); got {target!r}")
    traffic = arrivals * aht / interval
    agents = max(1, math.floor(traffic) + (0 if patience else 1))
    while agents <= MAX_AGENTS:
        _in_time(deadline)
        pred = (predict_erlang_a(arrivals, interval, aht, agents, threshold, patience, deadline) if patience
                else predict(arrivals, interval, aht, agents, threshold))
        if pred.service_level >= target and pred.occupancy <= (max_occupancy or 1.0):
            return pred
        agents += 1
    raise StaffingError(f"no headcount up to {MAX_AGENTS} agents meets the target")


def with_shrinkage(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that `agents` are on the phones after breaks, training and absence."""
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(agents / (1 - shrinkage))
