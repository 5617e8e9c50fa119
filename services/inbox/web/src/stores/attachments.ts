// Files the agent attaches to the next reply, per conversation: checked against the channel's rules, uploaded at
// once, sent by id with the reply.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, postForm, request, seg } from "../api/http";
import type { AttachmentRef, FileRules } from "../api/schemas";
import { channelToken } from "../labels";

const MB = 1024 * 1024;
/** Bytes as the whole megabytes a refusal names. */
const mb = (bytes: number): number => Math.floor(bytes / MB);

const SERVER_CODES = ["too_large", "too_many", "type", "no_files", "channel_type", "channel_limit", "channel_count", "channel_total"] as const;

/** Why a file was refused: a catalogue key under "attachments" and its values. `channel` is the channel's
 * token (sms, whatsapp, ...) when a channel's rule refused it, `allowed` the types that channel takes. */
export interface Refusal {
  code: (typeof SERVER_CODES)[number] | "failed";
  limitMb: number;
  name: string;
  channel?: string;
  allowed?: string[];
  limit?: number; // channel_count: the number of files
}

/** The server's JSON refusal ({code, limit_bytes, channel, allowed}) as a Refusal; null for anything else. */
export function serverRefusal(err: unknown, name: string): Refusal | null {
  if (!(err instanceof ApiError)) return null;
  try {
    const body = JSON.parse(err.message) as { code?: string; limit_bytes?: number; channel?: string; allowed?: string[] };
    const code = SERVER_CODES.find((c) => c === body.code);
    if (!code) return null;
    const limit = body.limit_bytes ?? 0;
    if (code === "too_many") return { code, limitMb: limit, name }; // a count, as the store's own refusal
    const refusal: Refusal = { code, limitMb: mb(limit), name };
    if (body.channel) refusal.channel = body.channel;
    if (body.allowed?.length) refusal.allowed = body.allowed;
    if (code === "channel_count") refusal.limit = limit;
    return refusal;
  } catch {
    return null;
  }
}

/** Any upload error as a Refusal: a plain 413 (no JSON) is the inbox's ceiling, `maxBytes` when the rules told
 * it, else a failure without a figure. */
export function refusalOf(err: unknown, name: string, maxBytes = 0): Refusal {
  const known = serverRefusal(err, name);
  if (known) return known;
  if (err instanceof ApiError && err.status === 413 && maxBytes) return { code: "too_large", limitMb: mb(maxBytes), name };
  return { code: "failed", limitMb: 0, name };
}

/** What the browser sends as the file's type (the upload's part header), as the server reads it. */
export function fileType(file: { type: string }): string {
  return (file.type || "application/octet-stream").toLowerCase();
}

/** Why the server would refuse `file` on `channel` beside the files already attached, by the same table it refuses
 * by (omnihub.common.file_rules), as the Refusal its answer would give; null when it fits or the channel is not in
 * the table (the server decides then). */
export function ruleRefusal(
  rules: FileRules,
  channel: string,
  attached: { type: string; size: number }[],
  file: { name: string; type: string; size: number },
): Refusal | null {
  const name = file.name;
  if (!rules.allowed_types.includes(file.type)) return { code: "type", limitMb: 0, name };
  const own = rules.channels[channel];
  if (!own) return null;
  const files = [...attached, { type: file.type, size: file.size }];
  for (const f of files) {
    if (!own.kinds.length) return { code: "no_files", limitMb: 0, name, channel };
    const kind = own.kinds.find((k) => k.types.includes(f.type));
    if (!kind) {
      const allowed = [...new Set(own.kinds.flatMap((k) => k.types))].sort();
      return { code: "channel_type", limitMb: 0, name, channel, allowed };
    }
    if (f.size > kind.max_bytes) return { code: "channel_limit", limitMb: mb(kind.max_bytes), name, channel };
  }
  if (files.length > own.max_files) return { code: "channel_count", limitMb: 0, name, channel, limit: own.max_files };
  if (own.max_total && files.reduce((sum, f) => sum + f.size, 0) > own.max_total) {
    return { code: "channel_total", limitMb: mb(own.max_total), name, channel };
  }
  return null;
}

/** The inbox's own limits on any channel: its ceiling per file and the files per reply. */
export function ceilingRefusal(rules: FileRules, attached: number, file: { name: string; size: number }): Refusal | null {
  if (file.size > rules.max_bytes) return { code: "too_large", limitMb: mb(rules.max_bytes), name: file.name };
  if (attached >= rules.max_files) return { code: "too_many", limitMb: rules.max_files, name: file.name };
  return null;
}

const LABELS: Record<string, string> = {
  "application/msword": "DOC",
  "application/vnd.ms-excel": "XLS",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
  "audio/mpeg": "MP3",
  "text/plain": "TXT",
};

/** A MIME type as the short name people know (image/png -> PNG). */
export function typeLabel(type: string): string {
  return LABELS[type] ?? (type.split("/")[1] ?? type).toUpperCase();
}

export const useAttachmentsStore = defineStore("attachments", () => {
  const pending = ref<Record<string, AttachmentRef[]>>({});
  const refusal = ref<Refusal | null>(null);
  const uploading = ref(0);

  function of(conversationId: string): AttachmentRef[] {
    return pending.value[conversationId] ?? [];
  }

  let rules: Promise<FileRules | null> | null = null;

  /** The channels' file rules, asked for once; null when they could not be had (the server still refuses). */
  function fileRules(): Promise<FileRules | null> {
    rules ??= request<FileRules>("/api/file-rules").catch(() => {
      rules = null; // asked again next time
      return null;
    });
    return rules;
  }

  /** Upload one file for the conversation's next reply. By the server's own rules (GET /api/file-rules), a file
   *  over the inbox's ceiling, one too many, or (given the conversation's `channel`) one its channel cannot carry
   *  is refused before it is sent; without the rules the server decides. */
  async function add(conversationId: string, file: File, channel?: string): Promise<boolean> {
    refusal.value = null;
    const table = await fileRules();
    if (table) {
      const refused = ceilingRefusal(table, of(conversationId).length, file)
        ?? (channel ? ruleRefusal(table, channelToken(channel),
                                  of(conversationId).map((a) => ({ type: a.content_type, size: a.size_bytes })),
                                  { name: file.name, type: fileType(file), size: file.size }) : null);
      if (refused) {
        refusal.value = refused;
        return false;
      }
    }
    const form = new FormData();
    form.append("file", file, file.name);
    uploading.value += 1;
    try {
      // the files already attached go along by id: the channel's per-message rules (WhatsApp: one file) apply now
      const already = of(conversationId).map((a) => `with=${encodeURIComponent(a.id)}`).join("&");
      const path = `/api/conversations/${seg(conversationId)}/attachments${already ? `?${already}` : ""}`;
      const ref_ = await postForm<AttachmentRef>(path, form);
      pending.value = { ...pending.value, [conversationId]: [...of(conversationId), ref_] };
      return true;
    } catch (err) {
      refusal.value = refusalOf(err, file.name, table?.max_bytes);
      return false;
    } finally {
      uploading.value -= 1;
    }
  }

  function remove(conversationId: string, id: string): void {
    pending.value = { ...pending.value, [conversationId]: of(conversationId).filter((a) => a.id !== id) };
  }

  /** The ids to send with a reply; `clear` once it went. */
  function ids(conversationId: string): string[] {
    return of(conversationId).map((a) => a.id);
  }

  function clear(conversationId: string): void {
    const next = { ...pending.value };
    delete next[conversationId];
    pending.value = next;
    refusal.value = null;
  }

  /** A reply the server refused for its files (one file too many, too much in all): say it here. */
  function refusedReply(err: unknown): boolean {
    const known = serverRefusal(err, "");
    if (known) refusal.value = known;
    return known !== null;
  }

  return { pending, refusal, uploading, of, add, remove, ids, clear, refusedReply };
});
