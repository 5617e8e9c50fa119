// The interventions store: who is present follows the socket's notices; monitoring moves with the open conversation.
import { createPinia, setActivePinia } from "pinia";
import { useInterventionsStore } from "../src/stores/interventions";
import { useLiveStore } from "../src/stores/live";

function notice(action: string, supervisor = "sam", conversation = "cnv_1") {
  return { type: "supervisor", data: { conversation_id: conversation, supervisor_id: supervisor, supervisor_name: supervisor.toUpperCase(), action } };
}

describe("interventions store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("keeps each supervisor's latest intervention until they leave", async () => {
    const store = useInterventionsStore();
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ supervisors: [] }), { status: 200 })));
    await store.load("cnv_1");
    expect(store.present.cnv_1).toEqual([]);
    const live = useLiveStore();
    live.dispatch(notice("monitor_start"));
    live.dispatch(notice("monitor_start", "sue"));
    live.dispatch(notice("whisper"));
    live.dispatch(notice("barge", "kim", "cnv_2"));
    expect((store.present.cnv_1 ?? []).map((p) => [p.supervisor_id, p.action])).toEqual([["sue", "monitor_start"], ["sam", "whisper"]]);
    live.dispatch(notice("monitor_stop", "sue"));
    live.dispatch(notice("call_leave"));
    expect(store.present.cnv_1).toEqual([]);
    expect(store.present.cnv_2).toHaveLength(1);
  });

  it("stops monitoring the previous conversation when another is opened, and when closed", async () => {
    const calls: [string, unknown][] = [];
    vi.stubGlobal("fetch", vi.fn(async (url: string, init: RequestInit) => {
      calls.push([url, JSON.parse(String(init.body))]);
      return new Response("{}", { status: 200 });
    }));
    const store = useInterventionsStore();
    await store.monitor("cnv_1");
    await store.monitor("cnv_1"); // the same one: nothing new
    await store.monitor("cnv_2");
    await store.monitor(null);
    expect(calls).toEqual([
      ["/api/supervisor/conversations/cnv_1/monitor", { active: true }],
      ["/api/supervisor/conversations/cnv_1/monitor", { active: false }],
      ["/api/supervisor/conversations/cnv_2/monitor", { active: true }],
      ["/api/supervisor/conversations/cnv_2/monitor", { active: false }],
    ]);
  });

  it("says why a whisper was refused", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response("no agent holds this conversation yet", { status: 409 })));
    const store = useInterventionsStore();
    expect(await store.send("cnv_1", "whisper", "hi")).toBe(false);
    expect(store.error).toContain("no agent");
  });
});
