// Files the agent attaches to the next reply, per conversation: uploaded at once, sent by id with the reply.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, postForm, seg } from "../api/http";
import type { AttachmentRef } from "../api/schemas";

/** The inbox refuses anything larger, on every channel (413). */
export const MAX_BYTES = 30 * 1024 * 1024;
export const MAX_FILES = 5;

/** Why a file was refused: a catalogue key under "attachments" and its values. */
export interface Refusal {
  code: "too_large" | "channel_limit" | "no_files" | "type" | "too_many" | "failed";
  limitMb: number;
  name: string;
}

/** The server's JSON refusal ({code, limit_bytes}) as a Refusal. */
export function refusalOf(err: unknown, name: string): Refusal {
  let code: Refusal["code"] = "failed";
  let limit = 0;
  if (err instanceof ApiError) {
    try {
      const body = JSON.parse(err.message) as { code?: string; limit_bytes?: number };
      if (body.code === "too_large" || body.code === "channel_limit" || body.code === "no_files" || body.code === "type")
        code = body.code;
      limit = body.limit_bytes ?? 0;
    } catch {
      code = err.status === 413 ? "too_large" : "failed";
    }
    if (err.status === 413 && code === "failed") code = "too_large";
  }
  return { code, limitMb: Math.floor((code === "too_large" ? MAX_BYTES : limit) / (1024 * 1024)), name };
}

export const useAttachmentsStore = defineStore("attachments", () => {
  const pending = ref<Record<string, AttachmentRef[]>>({});
  const refusal = ref<Refusal | null>(null);
  const uploading = ref(0);

  function of(conversationId: string): AttachmentRef[] {
    return pending.value[conversationId] ?? [];
  }

  /** Upload one file for the conversation's next reply; a file over 30 MB is refused before it is sent. */
  async function add(conversationId: string, file: File): Promise<boolean> {
    refusal.value = null;
    if (file.size > MAX_BYTES) {
      refusal.value = { code: "too_large", limitMb: MAX_BYTES / (1024 * 1024), name: file.name };
      return false;
    }
    if (of(conversationId).length >= MAX_FILES) {
      refusal.value = { code: "too_many", limitMb: MAX_FILES, name: file.name };
      return false;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    uploading.value += 1;
    try {
      const ref_ = await postForm<AttachmentRef>(`/api/conversations/${seg(conversationId)}/attachments`, form);
      pending.value = { ...pending.value, [conversationId]: [...of(conversationId), ref_] };
      return true;
    } catch (err) {
      refusal.value = refusalOf(err, file.name);
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

  return { pending, refusal, uploading, of, add, remove, ids, clear };
});
