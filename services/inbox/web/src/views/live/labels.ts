// Catalogue keys for the live page's server values: conversation states and "why still waiting" reasons.
export const LIVE_STATE_KEYS: Record<string, string> = {
  queued: "live.states.queued",
  offered: "live.states.offered",
  assigned: "live.states.assigned",
  wrap_up: "live.states.wrapUp",
};

export const WAITING_KEYS: Record<string, string> = {
  not_waiting: "live.waiting.notWaiting",
  held_for_agent: "live.waiting.heldForAgent",
  queue_closed: "live.waiting.queueClosed",
  no_agent_with_skill: "live.waiting.noAgentWithSkill",
  none_logged_in: "live.waiting.noneLoggedIn",
  all_away: "live.waiting.allAway",
  all_at_capacity: "live.waiting.allAtCapacity",
  excluded: "live.waiting.excluded",
  about_to_be_offered: "live.waiting.aboutToBeOffered",
};

/** Why one agent has not got a waiting conversation. */
export const CAUSE_KEYS: Record<string, string> = {
  offline: "live.causes.offline",
  away: "live.causes.away",
  on_call: "live.causes.onCall",
  at_capacity: "live.causes.atCapacity",
  excluded: "live.causes.excluded",
  free: "live.causes.free",
};

/** Why the router chose an agent (RoutingDecision.reason). */
export const DECISION_KEYS: Record<string, string> = {
  strategy: "live.decisionReasons.strategy",
  returning_customer: "live.decisionReasons.returningCustomer",
  transfer: "live.decisionReasons.transfer",
  agent_freed: "live.decisionReasons.agentFreed",
  sticky_assigned: "live.decisionReasons.stickyAssigned",
};

/** Routing strategies (RoutingDecision.strategy). */
export const STRATEGY_KEYS: Record<string, string> = {
  longest_idle: "live.strategies.longestIdle",
  most_skilled: "live.strategies.mostSkilled",
  least_occupied: "live.strategies.leastOccupied",
  round_robin: "live.strategies.roundRobin",
};
