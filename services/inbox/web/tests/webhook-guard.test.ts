// Subscribing a webhook to an internal address: the server's 400 becomes its own message, which the next try clears.
import { createPinia, setActivePinia } from "pinia";
import { useIntegrationsStore } from "../src/stores/integrations";

function answer(status: number, body: unknown): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
}

describe("webhook URL refusal", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("says the URL was refused, and forgets it once a subscription works", async () => {
    const store = useIntegrationsStore();
    vi.stubGlobal("fetch", async () => answer(400, "webhook URL refused: 169.254.169.254 is a link-local address"));
    expect(await store.subscribe({ url: "http://169.254.169.254/", events: ["message.created"], description: "" })).toBe(false);
    expect(store.urlRefused).toBe(true);
    vi.stubGlobal("fetch", async (_path: string, init: RequestInit) =>
      init.method === "POST" ? answer(201, { id: "whk_1", secret: "whsec_x" }) : answer(200, { tokens: [], webhooks: [] }));
    expect(await store.subscribe({ url: "https://crm.example.com/hook", events: ["message.created"], description: "" })).toBe(true);
    expect(store.urlRefused).toBe(false);
    expect(store.secret).toBe("whsec_x");
  });
});
