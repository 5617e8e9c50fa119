// The attachments store: 30 MB refused before any upload, the server's refusals read by code, files go with the reply.
import { createPinia, setActivePinia } from "pinia";
import { ApiError } from "../src/api/http";
import { MAX_BYTES, refusalOf, useAttachmentsStore } from "../src/stores/attachments";

describe("attachments store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("refuses a file over 30 MB without sending it", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    const store = useAttachmentsStore();
    const big = new File(["x"], "huge.pdf", { type: "application/pdf" });
    Object.defineProperty(big, "size", { value: MAX_BYTES + 1 });
    expect(await store.add("cnv_1", big)).toBe(false);
    expect(store.refusal).toEqual({ code: "too_large", limitMb: 30, name: "huge.pdf" });
    expect(fetch).not.toHaveBeenCalled();
  });

  it("keeps an uploaded file for the conversation's next reply", async () => {
    const ref = { id: "a".repeat(32), file_name: "a.pdf", content_type: "application/pdf", size_bytes: 3 };
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response(JSON.stringify(ref), { status: 200 })));
    const store = useAttachmentsStore();
    expect(await store.add("cnv_1", new File(["abc"], "a.pdf", { type: "application/pdf" }))).toBe(true);
    expect(store.ids("cnv_1")).toEqual([ref.id]);
    expect(store.ids("cnv_2")).toEqual([]);
    store.clear("cnv_1");
    expect(store.ids("cnv_1")).toEqual([]);
  });

  it("reads the server's refusal codes and limits", () => {
    const body = JSON.stringify({ code: "channel_limit", message: "sms carries files of at most 5 MB", limit_bytes: 5 * 1024 * 1024 });
    expect(refusalOf(new ApiError(413, body), "a.png")).toEqual({ code: "channel_limit", limitMb: 5, name: "a.png" });
    expect(refusalOf(new ApiError(413, "Request Entity Too Large"), "b.pdf").code).toBe("too_large");
    expect(refusalOf(new ApiError(0, "network"), "c.pdf").code).toBe("failed");
  });
});
