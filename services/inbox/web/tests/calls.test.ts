// The call store: a call not yet in a conference is no error, the socket's notice brings it, and the softphone check.
import { createPinia, setActivePinia } from "pinia";
import type { CallView } from "../src/api/schemas";
import { useCallsStore } from "../src/stores/calls";
import { useLiveStore } from "../src/stores/live";

const VIEW: CallView = {
  conversation_id: "cnv_1", state: "connected", on_hold: false, recording_paused: false, consult_target: "",
  agent_id: "alice", supervisor_id: "", supervisor_mode: "",
};

function answer(status: number, body: unknown = {}): void {
  vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify(body), { status })));
}

describe("calls store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("waits quietly for the conference, then takes the call from the socket", async () => {
    const calls = useCallsStore();
    answer(404, "no call in a conference for this conversation");
    await calls.load("cnv_1");
    expect(calls.call).toBeNull();
    expect(calls.error).toBe("");
    useLiveStore().dispatch({ type: "call", data: { conversation_id: "cnv_2", action: "", actor_id: "bob", actor_role: "agent", target: "", call: { ...VIEW, conversation_id: "cnv_2" } } });
    expect(calls.call).toBeNull(); // another conversation's call
    useLiveStore().dispatch({ type: "call", data: { conversation_id: "cnv_1", action: "coach", actor_id: "sam", actor_role: "supervisor", target: "alice", call: { ...VIEW, supervisor_id: "sam", supervisor_mode: "coach" } } });
    expect(calls.call?.supervisor_mode).toBe("coach");
  });

  it("shows a refused control's reason and keeps the call", async () => {
    const calls = useCallsStore();
    answer(200, VIEW);
    await calls.load("cnv_1");
    answer(403, "this call is not yours");
    expect(await calls.act("cnv_1", "hold")).toBe(false);
    expect(calls.error).toContain("not yours");
    expect(calls.call?.state).toBe("connected");
    answer(200, { ...VIEW, state: "on_hold", on_hold: true });
    expect(await calls.act("cnv_1", "hold")).toBe(true);
    expect(calls.call?.on_hold).toBe(true);
  });

  it("knows when calls ring the agent's phone instead of a softphone", async () => {
    const calls = useCallsStore();
    answer(404, "the softphone is not configured");
    await calls.checkSoftphone();
    expect(calls.softphone).toBe("phone");
  });
});
