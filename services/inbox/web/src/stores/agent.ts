// The agent's routing state as the router reports it (Available, Busy, Wrap-up, Away with reason, Offline).
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { request } from "../api/http";
import type { StateBody } from "../api/schemas";
import { epoch, type Agent, type AgentStateName } from "../api/types";
import { useClockStore } from "./clock";

export type ShortState = "AVAILABLE" | "BUSY" | "WRAP_UP" | "AWAY" | "OFFLINE";
export type Choice = "AVAILABLE" | "AWAY" | "OFFLINE";
/** Away reasons the agent picks; any other Away reason was the router's or a supervisor's doing. */
export const OWN_REASONS = ["break", "lunch", "training", "meeting"] as const;

function short(state: AgentStateName | undefined): ShortState {
  return (state ?? "AGENT_STATE_OFFLINE").replace("AGENT_STATE_", "") as ShortState;
}

export const useAgentStore = defineStore("agent", () => {
  const agent = ref<Agent | null>(null);
  const since = ref(Date.now() / 1000);
  const error = ref("");
  const clock = useClockStore();

  const state = computed<ShortState>(() => short(agent.value?.state));
  const reason = computed(() => agent.value?.state_reason ?? "");
  const secondsInState = computed(() => Math.max(0, clock.now - since.value));
  /** Seconds until the router ends the wrap-up (its deadline), or null outside wrap-up. */
  const wrapUpLeft = computed(() => {
    const end = agent.value?.wrap_up_end_time;
    return state.value === "WRAP_UP" && end ? Math.max(0, epoch(end) - clock.now) : null;
  });
  /** Away not by the agent's own choice: missed offers, a supervisor, a lost connection. */
  const autopaused = computed(
    () => state.value === "AWAY" && reason.value !== "" && !(OWN_REASONS as readonly string[]).includes(reason.value),
  );
  /** What the state selector shows: Busy and Wrap-up are Available to the router's eyes. */
  const choice = computed<Choice>(() =>
    state.value === "AWAY" ? "AWAY" : state.value === "OFFLINE" ? "OFFLINE" : "AVAILABLE",
  );

  /** The router told us the agent's state (socket notice or an answer to SetState). */
  function update(next: Agent): void {
    const changed = short(next.state) !== state.value || (next.state_reason ?? "") !== reason.value;
    // The router's own time of the change survives a reconnect; the client clock is the fallback.
    if (next.state_time) since.value = epoch(next.state_time);
    else if (changed || agent.value === null) since.value = clock.now;
    agent.value = next;
  }

  /** Ask the router for a state; Away needs a reason. */
  async function setState(choice: Choice, awayReason = ""): Promise<boolean> {
    error.value = "";
    try {
      const body: StateBody = { state: choice, reason: choice === "AWAY" ? awayReason : "" };
      update(await request<Agent>("/api/state", { method: "POST", body }));
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  return { agent, since, error, state, reason, secondsInState, wrapUpLeft, autopaused, choice, update, setState };
});
