// The attachments store: the server's file rules applied before any upload, its refusals read by code, files go
// with the reply.
import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { ApiError } from "../src/api/http";
import type { Conversation } from "../src/api/types";
import { i18n } from "../src/i18n";
import type { FileRules } from "../src/api/schemas";
import { ceilingRefusal, refusalOf, ruleRefusal, typeLabel, useAttachmentsStore } from "../src/stores/attachments";
import AttachFile from "../src/views/attachments/AttachFile.vue";

describe("attachments store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  const MB = 1024 * 1024;
  // the table as GET /api/file-rules gives it (omnihub.common.file_rules), for two channels
  const RULES: FileRules = {
    max_bytes: 30 * MB,
    max_files: 5,
    allowed_types: ["application/pdf", "image/gif", "image/jpeg", "image/png", "image/webp", "text/plain"],
    channels: {
      sms: { kinds: [{ name: "image", types: ["image/gif", "image/jpeg", "image/png"], max_bytes: 5 * MB },
                     { name: "file", types: ["application/pdf"], max_bytes: 5 * MB }], max_files: 5, max_total: 5 * MB },
      whatsapp: { kinds: [{ name: "image", types: ["image/jpeg", "image/png"], max_bytes: 5 * MB },
                          { name: "document", types: ["application/pdf"], max_bytes: 16 * MB }], max_files: 1, max_total: 0 },
      voice: { kinds: [], max_files: 5, max_total: 0 },
    },
  };

  /** A server that gives the rules and answers every upload with `ref`; the paths asked, in order. */
  function serve(ref?: object): string[] {
    const calls: string[] = [];
    vi.stubGlobal("fetch", async (path: string) => {
      calls.push(path);
      return new Response(JSON.stringify(path === "/api/file-rules" ? RULES : ref), { status: 200 });
    });
    return calls;
  }

  it("refuses a file over the server's ceiling, and one file too many, without sending it", async () => {
    const calls = serve();
    const store = useAttachmentsStore();
    const big = new File(["x"], "huge.pdf", { type: "application/pdf" });
    Object.defineProperty(big, "size", { value: RULES.max_bytes + 1 });
    expect(await store.add("cnv_1", big)).toBe(false);
    expect(store.refusal).toEqual({ code: "too_large", limitMb: 30, name: "huge.pdf" });
    expect(calls).toEqual(["/api/file-rules"]); // the rules, and no upload
    const rules = { ...RULES, max_bytes: 2 * MB, max_files: 2 };  // the figures are the server's, not the desktop's
    const file = { name: "b.pdf", size: 3 * MB };
    expect(ceilingRefusal(rules, 0, file)).toEqual({ code: "too_large", limitMb: 2, name: "b.pdf" });
    expect(ceilingRefusal(rules, 2, { ...file, size: 1 })).toEqual({ code: "too_many", limitMb: 2, name: "b.pdf" });
    expect(ceilingRefusal(rules, 1, { ...file, size: 1 })).toBeNull();
  });

  it("keeps an uploaded file for the conversation's next reply", async () => {
    const ref = { id: "a".repeat(32), file_name: "a.pdf", content_type: "application/pdf", size_bytes: 3 };
    serve(ref);
    const store = useAttachmentsStore();
    expect(await store.add("cnv_1", new File(["abc"], "a.pdf", { type: "application/pdf" }))).toBe(true);
    expect(store.ids("cnv_1")).toEqual([ref.id]);
    expect(store.ids("cnv_2")).toEqual([]);
    const calls = serve({ ...ref, id: "b".repeat(32) });
    expect(await store.add("cnv_1", new File(["d"], "b.pdf", { type: "application/pdf" }))).toBe(true);
    expect(calls).toEqual([`/api/conversations/cnv_1/attachments?with=${ref.id}`]); // the rules kept; the reply's files so far
    store.clear("cnv_1");
    expect(store.ids("cnv_1")).toEqual([]);
  });

  it("refuses what the conversation's channel cannot carry before uploading, as the server would", async () => {
    const calls = serve();
    const store = useAttachmentsStore();
    expect(await store.add("cnv_1", new File(["x"], "a.webp", { type: "image/webp" }), "CHANNEL_SMS")).toBe(false);
    expect(store.refusal).toEqual({ code: "channel_type", limitMb: 0, name: "a.webp", channel: "sms",
                                    allowed: ["application/pdf", "image/gif", "image/jpeg", "image/png"] });
    const big = new File(["x"], "scan.pdf", { type: "application/pdf" });
    Object.defineProperty(big, "size", { value: 6 * MB });
    expect(await store.add("cnv_1", big, "CHANNEL_SMS")).toBe(false);
    expect(store.refusal).toEqual({ code: "channel_limit", limitMb: 5, name: "scan.pdf", channel: "sms" });
    expect(await store.add("cnv_1", new File(["x"], "a.pdf", { type: "application/pdf" }), "CHANNEL_VOICE")).toBe(false);
    expect(store.refusal?.code).toBe("no_files");
    expect(calls).toEqual(["/api/file-rules"]); // the table once, and no upload
  });

  it("checks a file beside the ones already attached: count and total per message", () => {
    const pdf = { name: "b.pdf", type: "application/pdf", size: 3 * MB };
    expect(ruleRefusal(RULES, "whatsapp", [], pdf)).toBeNull();
    expect(ruleRefusal(RULES, "whatsapp", [{ type: "image/png", size: 10 }], pdf))
      .toEqual({ code: "channel_count", limitMb: 0, name: "b.pdf", channel: "whatsapp", limit: 1 });
    expect(ruleRefusal(RULES, "sms", [{ type: "image/png", size: 3 * MB }], pdf))
      .toEqual({ code: "channel_total", limitMb: 5, name: "b.pdf", channel: "sms" });
    expect(ruleRefusal(RULES, "email", [], { name: "x.exe", type: "application/x-msdownload", size: 1 }))
      .toEqual({ code: "type", limitMb: 0, name: "x.exe" });
    expect(ruleRefusal(RULES, "telegram", [], pdf)).toBeNull(); // not in this table: the server decides
  });

  it("uploads when the rules cannot be had: the server still refuses", async () => {
    const ref = { id: "c".repeat(32), file_name: "c.pdf", content_type: "application/pdf", size_bytes: 1 };
    vi.stubGlobal("fetch", async (path: string) =>
      path === "/api/file-rules" ? new Response("down", { status: 503 }) : new Response(JSON.stringify(ref), { status: 200 }));
    const store = useAttachmentsStore();
    expect(await store.add("cnv_1", new File(["x"], "c.pdf", { type: "application/pdf" }), "CHANNEL_SMS")).toBe(true);
    expect(store.ids("cnv_1")).toEqual([ref.id]);
  });

  it("reads the server's refusal codes and limits", () => {
    const body = JSON.stringify({ code: "channel_limit", message: "sms carries files of at most 5 MB", limit_bytes: 5 * 1024 * 1024 });
    expect(refusalOf(new ApiError(413, body), "a.png")).toEqual({ code: "channel_limit", limitMb: 5, name: "a.png" });
    expect(refusalOf(new ApiError(413, "Request Entity Too Large"), "b.pdf", RULES.max_bytes))
      .toEqual({ code: "too_large", limitMb: 30, name: "b.pdf" });
    expect(refusalOf(new ApiError(413, "Request Entity Too Large"), "b.pdf").code).toBe("failed"); // no rules, no figure
    const tooLarge = JSON.stringify({ code: "too_large", message: "", limit_bytes: 30 * MB });
    expect(refusalOf(new ApiError(413, tooLarge), "c.pdf")).toEqual({ code: "too_large", limitMb: 30, name: "c.pdf" });
    expect(refusalOf(new ApiError(0, "network"), "c.pdf").code).toBe("failed");
  });

  it("names the channel and its rule in either language", async () => {
    const store = useAttachmentsStore();
    const body = JSON.stringify({ code: "channel_type", message: "", limit_bytes: 0, channel: "whatsapp", allowed: ["image/jpeg", "application/pdf", "audio/mpeg"] });
    const refusal = refusalOf(new ApiError(415, body), "a.gif");
    expect(refusal).toEqual({ code: "channel_type", limitMb: 0, name: "a.gif", channel: "whatsapp", allowed: ["image/jpeg", "application/pdf", "audio/mpeg"] });
    expect(typeLabel("image/jpeg")).toBe("JPEG");
    expect(typeLabel("application/vnd.openxmlformats-officedocument.wordprocessingml.document")).toBe("DOCX");
    store.refusal = refusal;
    const conversation = { id: "cnv_1", channel: "CHANNEL_WHATSAPP" } as Conversation;
    const wrapper = mount(AttachFile, { props: { conversation }, global: { plugins: [i18n] } });
    i18n.global.locale.value = "en";
    await wrapper.vm.$nextTick();
    expect(wrapper.get("#attach-error").text()).toBe("WhatsApp cannot carry a.gif: it takes only JPEG, PDF, and MP3.");
    i18n.global.locale.value = "zh-CN";
    await wrapper.vm.$nextTick();
    expect(wrapper.get("#attach-error").text()).toBe("WhatsApp无法发送 a.gif：只支持 JPEG、PDF和MP3。");
    store.refusedReply(new ApiError(400, JSON.stringify({ code: "channel_count", message: "", limit_bytes: 1, channel: "whatsapp" })));
    await wrapper.vm.$nextTick();
    expect(wrapper.get("#attach-error").text()).toBe("WhatsApp每条消息最多只能带 1 个文件。");
    i18n.global.locale.value = "en";
    await wrapper.vm.$nextTick();
    expect(wrapper.get("#attach-error").text()).toBe("WhatsApp carries at most 1 file per message.");
    expect(store.refusedReply(new ApiError(400, "plain text"))).toBe(false);
    wrapper.unmount();
  });
});
