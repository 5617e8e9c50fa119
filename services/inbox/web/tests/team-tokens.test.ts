// A token for some teams: the admin's comma-separated teams go into the request, and the list says whose it is.
import { flushPromises, mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { i18n } from "../src/i18n";
import TokensPanel from "../src/views/integrations/TokensPanel.vue";

describe("team tokens", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("sends the chosen teams and shows them in the list", async () => {
    const sent: unknown[] = [];
    const token = { id: "tok_1", name: "crm", scopes: ["agents:read"], rate: "600/minute", created_by: "ada", created: 0, revoked: false };
    vi.stubGlobal("fetch", async (_path: string, init: RequestInit) => {
      if (init.method === "POST") {
        sent.push(JSON.parse(String(init.body)));
        return new Response(JSON.stringify({ ...token, teams: ["north", "south"], token: "tok_1.x" }), { status: 201 });
      }
      const tokens = sent.length ? [{ ...token, teams: ["north", "south"] }, { ...token, id: "tok_0", teams: [] }] : [];
      return new Response(JSON.stringify({ tokens, webhooks: [] }), { status: 200 });
    });
    const panel = mount(TokensPanel, { global: { plugins: [i18n] } });
    await panel.find("#token-name").setValue("crm");
    await panel.find('input[value="agents:read"]').setValue(true);
    await panel.find("#token-teams").setValue(" north, south ,");
    await panel.find("#token-form").trigger("submit");
    await flushPromises();
    expect(sent).toEqual([{ name: "crm", scopes: ["agents:read"], rate: "600/minute", teams: ["north", "south"] }]);
    const rows = panel.findAll("#token-table tbody tr").map((r) => r.find("td").text());
    expect(rows).toEqual(["crm · north, south", "crm · whole center"]);
  });
});
