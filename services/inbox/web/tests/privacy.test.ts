// The privacy store: a confirmation that does not repeat the id is refused before any request; refusals by status.
import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { usePrivacyStore } from "../src/stores/privacy";

describe("privacy store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("refuses a confirmation that does not repeat the id without calling the server", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    const privacy = usePrivacyStore();
    expect(await privacy.erase("cus_1", "cus_2")).toBe(false);
    expect(privacy.refusal).toBe("confirm");
    expect(fetch).not.toHaveBeenCalled();
  });

  it("posts the id as its confirmation and keeps the result per service", async () => {
    const report = { customer_id: "cus_1", state: "partial", time: 1, services: [{ service: "router", ok: false, error: "open", removed: {} }] };
    const fetch = vi.fn(async () => new Response(JSON.stringify(report), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const privacy = usePrivacyStore();
    expect(await privacy.erase(" cus_1 ", "cus_1")).toBe(true);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/admin/customers/cus_1/erase");
    expect(JSON.parse(String(init.body))).toEqual({ confirm: "cus_1" });
    expect(privacy.erasure?.state).toBe("partial");
  });

  it("names an unknown customer", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response("no such customer", { status: 404 })));
    const privacy = usePrivacyStore();
    expect(await privacy.erase("cus_x", "cus_x")).toBe(false);
    expect(privacy.refusal).toBe("unknown");
  });
});
