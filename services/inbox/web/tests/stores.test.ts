// The stores on their own: offers (all at once, why they ended), agent state, the conversation list, the socket's dispatch.
import { createPinia, setActivePinia } from "pinia";
import type { Conversation, Message, Offer } from "../src/api/types";
import { useAgentStore } from "../src/stores/agent";
import { useClockStore } from "../src/stores/clock";
import { useConversationsStore } from "../src/stores/conversations";
import { useLiveStore } from "../src/stores/live";
import { useOffersStore } from "../src/stores/offers";

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();

function offer(id: string, expiresAt: number, name = `Customer ${id}`): Offer {
  return {
    reservation_id: id,
    expire_time: iso(expiresAt),
    conversation: { id: `cnv_${id}`, channel: "CHANNEL_SMS", queue: "support", customer_display_name: name },
  };
}

function message(id: string, conversation: string, direction = "incoming"): Message {
  return { _id: id, conversation_id: conversation, customer_id: `cus_${conversation}`, channel: "sms", direction, text: id, time: 1 };
}

describe("offers store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("keeps every pending offer, each with its own countdown, and ignores replays", () => {
    const offers = useOffersStore();
    const clock = useClockStore();
    clock.now = 1000;
    for (let i = 0; i < 5; i++) expect(offers.add(offer(`r${i}`, 1010 + i))).toBe(true);
    expect(offers.add(offer("r2", 1012))).toBe(false); // the socket replays pending offers on reconnect
    expect(offers.count).toBe(5);
    expect(offers.pending.map((o) => offers.secondsLeft(o))).toEqual([10, 11, 12, 13, 14]);
    expect(offers.arrivals).toBe(5);
    expect(offers.latest).toBe("r4");
  });

  it("says whether an offer expired or was withdrawn", () => {
    const offers = useOffersStore();
    const clock = useClockStore();
    clock.now = 1000;
    offers.add(offer("a", 1005, "Mei"));
    offers.add(offer("b", 1030, "Li"));
    offers.withdrawn("b"); // time left: the customer left or someone else got it
    clock.now = 1006;
    offers.expire();
    expect(offers.pending).toEqual([]);
    expect(offers.ended.map((e) => [e.customer, e.why])).toEqual([["Mei", "expired"], ["Li", "withdrawn"]]);
    offers.dismiss("a");
    expect(offers.ended.map((e) => e.customer)).toEqual(["Li"]);
  });

  it("says the router's reason when the socket gives one, then ignores the older bare notice", () => {
    const offers = useOffersStore();
    const live = useLiveStore();
    useClockStore().now = 1000;
    for (const id of ["left", "moved", "off", "late"]) offers.add(offer(id, 1030, id));
    live.dispatch({ type: "offer_ended", data: { reservation_id: "left", reason: "customer_left" } });
    live.dispatch({ type: "offer_withdrawn", data: "left" });
    live.dispatch({ type: "offer_ended", data: { reservation_id: "moved", reason: "transferred" } });
    live.dispatch({ type: "offer_ended", data: { reservation_id: "off", reason: "agent_offline" } });
    live.dispatch({ type: "offer_ended", data: { reservation_id: "late", reason: "timeout" } });
    expect(offers.pending).toEqual([]);
    expect(offers.ended.map((e) => [e.customer, e.why])).toEqual([
      ["late", "expired"], ["off", "agent_offline"], ["moved", "transferred"], ["left", "customer_left"],
    ]);
  });

  it("accepts through the API; a vanished offer says it expired", async () => {
    const offers = useOffersStore();
    useClockStore().now = 1000;
    offers.add(offer("ok", 1060));
    offers.add(offer("gone", 1060));
    vi.stubGlobal("fetch", async (path: string) =>
      path.includes("/gone/") ? new Response("no such reservation", { status: 404 }) : new Response(JSON.stringify({ id: "cnv_ok" })),
    );
    expect(await offers.accept("ok")).toEqual({ id: "cnv_ok" });
    expect(await offers.accept("gone")).toBeNull();
    expect(offers.pending).toEqual([]);
    expect(offers.ended.map((e) => e.why)).toEqual(["expired"]);
  });
});

describe("agent store", () => {
  beforeEach(() => setActivePinia(createPinia()));

  it("shows the router's state, the time in it, and autopause apart from the agent's own breaks", () => {
    const agent = useAgentStore();
    const clock = useClockStore();
    clock.now = 500;
    expect(agent.state).toBe("OFFLINE");
    agent.update({ id: "alice", state: "AGENT_STATE_BUSY" });
    expect(agent.choice).toBe("AVAILABLE");
    clock.now = 530;
    agent.update({ id: "alice", state: "AGENT_STATE_BUSY" }); // same state: the clock keeps running
    expect(agent.secondsInState).toBe(30);
    agent.update({ id: "alice", state: "AGENT_STATE_AWAY", state_reason: "lunch" });
    expect(agent.secondsInState).toBe(0);
    expect(agent.autopaused).toBe(false);
    agent.update({ id: "alice", state: "AGENT_STATE_AWAY", state_reason: "missed_offers", missed_offers: 3 });
    expect(agent.autopaused).toBe(true);
    expect(agent.choice).toBe("AWAY");
  });
});

describe("conversations store", () => {
  beforeEach(() => setActivePinia(createPinia()));

  it("sorts by wait, filters by channel and queue, counts unread", () => {
    const conversations = useConversationsStore();
    const convs: Conversation[] = [
      { id: "new", channel: "CHANNEL_EMAIL", queue: "sales", enqueue_time: iso(300) },
      { id: "old", channel: "CHANNEL_SMS", queue: "support", enqueue_time: iso(100) },
      { id: "mid", channel: "CHANNEL_SMS", queue: "sales", enqueue_time: iso(200) },
    ];
    convs.forEach((c) => conversations.upsert(c));
    expect(conversations.sorted.map((c) => c.id)).toEqual(["old", "mid", "new"]);
    conversations.filters.channel = "CHANNEL_SMS";
    expect(conversations.visible.map((c) => c.id)).toEqual(["old", "mid"]);
    conversations.filters.queue = "sales";
    expect(conversations.visible.map((c) => c.id)).toEqual(["mid"]);
    expect(conversations.channels).toEqual(["CHANNEL_EMAIL", "CHANNEL_SMS"]);
    conversations.onMessage(message("m1", "old"));
    conversations.onMessage(message("m2", "old"));
    conversations.onMessage(message("m3", "old", "outgoing"));
    expect(conversations.unreadOf("old")).toBe(2);
    conversations.remove("old");
    expect(conversations.items.old).toBeUndefined();
  });

  it("asks for the list and its labels at the same time (the first paint waits for one request)", async () => {
    const conversations = useConversationsStore();
    const asked: string[] = [];
    let answer: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (answer = resolve));
    vi.stubGlobal("fetch", async (path: string) => {
      asked.push(path);
      if (path === "/api/conversations") {
        await held; // the list's answer comes only after the labels were asked for
        return new Response(JSON.stringify([{ id: "a", channel: "CHANNEL_SMS" }]));
      }
      return new Response(JSON.stringify({ conversations: { a: { status: "open", labels: ["vip"] } }, labels: ["vip"] }));
    });
    const done = conversations.refresh();
    await vi.waitFor(() => expect(asked).toEqual(["/api/organise", "/api/conversations"]));
    answer?.();
    await done;
    expect(Object.keys(conversations.items)).toEqual(["a"]);
    const shown = conversations.items;
    await conversations.refresh(); // the socket's first open asks again: the same answer is not rendered again
    expect(conversations.items).toBe(shown);
    vi.unstubAllGlobals();
  });

  it("keeps a line of the customer's other conversation pushed while a history loads (stored after it was read)", async () => {
    const conversations = useConversationsStore();
    const history = (id: string, customer: string, messages: Message[]): string =>
      JSON.stringify({ conversation: { id, channel: "CHANNEL_SMS", customer_id: customer }, messages });
    let answer: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const first = { ...message("m1", "a"), customer_id: "cus_1" };
    vi.stubGlobal("fetch", async (path: string) => {
      if (path === "/api/conversations/a/messages") return new Response(history("a", "cus_1", [first]));
      await held; // b's history is read before a's ended line is stored, and answers after it was pushed
      return new Response(history("b", "cus_1", [{ ...message("m2", "b"), customer_id: "cus_1" }, first]));
    });
    await conversations.open("a");
    const opening = conversations.open("b");
    const ended = { ...message("act_1", "a", "activity"), customer_id: "cus_1" };
    conversations.onMessage(ended); // a was just wrapped up: its line, the same customer's
    conversations.onMessage({ ...message("m9", "z"), customer_id: "cus_other" }); // someone else's: never shown here
    answer?.();
    await opening;
    expect(conversations.messages.map((m) => m._id).sort()).toEqual(["act_1", "m1", "m2"]);
    vi.unstubAllGlobals();
  });
});

describe("live dispatch", () => {
  beforeEach(() => setActivePinia(createPinia()));

  it("routes each socket message to its store", () => {
    const live = useLiveStore();
    const offers = useOffersStore();
    const conversations = useConversationsStore();
    useClockStore().now = 1000;
    live.dispatch({ type: "offer", data: offer("r1", 1060) });
    live.dispatch({ type: "agent", data: { id: "alice", state: "AGENT_STATE_BUSY" } });
    expect(offers.count).toBe(1);
    expect(useAgentStore().state).toBe("BUSY");
    live.dispatch({ type: "assigned", data: { id: "cnv_r1", queue: "support" } });
    expect(offers.count).toBe(0); // accepted elsewhere (another tab): the offer is done, not "withdrawn"
    expect(offers.ended).toEqual([]);
    expect(Object.keys(conversations.items)).toEqual(["cnv_r1"]);
    live.dispatch({ type: "unassigned", data: "cnv_r1" });
    expect(conversations.items).toEqual({});
    live.dispatch({ type: "nonsense", data: null }); // unknown messages are ignored
  });
});
