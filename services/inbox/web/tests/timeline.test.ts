// The conversation view's logic: messages pushed while the history loads, receipts in any order, the typing line, phones.
import { createPinia, setActivePinia } from "pinia";
import type { Message } from "../src/api/types";
import { useConversationsStore } from "../src/stores/conversations";
import { parsePhones } from "../src/stores/customers";

const msg = (id: string, time: number, extra: Partial<Message> = {}): Message => ({
  _id: id, conversation_id: "c1", customer_id: "cus1", channel: "webchat", direction: "incoming", text: id, time, ...extra,
});

describe("conversation timeline", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it("keeps a message the socket brought while the history was still on its way", async () => {
    let answer: (r: Response) => void = () => undefined;
    vi.stubGlobal("fetch", () => new Promise<Response>((resolve) => (answer = resolve)));
    const conversations = useConversationsStore();
    const opening = conversations.open("c1");
    conversations.onMessage(msg("late", 5)); // stored after the history was read
    answer(new Response(JSON.stringify({ conversation: { id: "c1", customer_id: "cus1" }, messages: [msg("early", 1)] })));
    await opening;
    expect(conversations.messages.map((m) => m._id)).toEqual(["early", "late"]);
  });

  it("shows the furthest delivery state, whatever order the receipts came in", () => {
    const conversations = useConversationsStore();
    conversations.messages = [msg("out1", 1, { direction: "outgoing", status: "pending" })];
    conversations.onStatus({ id: "out1", status: "read" });
    conversations.onStatus({ id: "out1", status: "delivered" }); // a late delivery receipt
    expect(conversations.messages[0]?.status).toBe("read");
  });

  it("clears the typing line when the message comes, or by itself when nothing more is heard", () => {
    vi.useFakeTimers();
    const conversations = useConversationsStore();
    conversations.currentId = "c1";
    conversations.current = { id: "c1", customer_id: "cus1", channel: "CHANNEL_SMS" };
    conversations.onTyping({ conversation_id: "c1", typing: true });
    expect(conversations.typing).toBe(true);
    conversations.onMessage(msg("m1", 1));
    expect(conversations.typing).toBe(false);
    conversations.onTyping({ conversation_id: "c2", typing: true }); // another conversation's visitor
    expect(conversations.typing).toBe(false);
    conversations.onTyping({ conversation_id: "c1", typing: true });
    vi.advanceTimersByTime(5_000);
    expect(conversations.typing).toBe(true);
    vi.advanceTimersByTime(1_500);
    expect(conversations.typing).toBe(false);
  });

  it("splits the phone field into numbers, each once", () => {
    expect(parsePhones(" +86 138 0013 8000, +15550001111;+86 138 0013 8000\n")).toEqual(["+86 138 0013 8000", "+15550001111"]);
  });
});
