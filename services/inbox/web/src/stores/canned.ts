// The composer's `/` shortcut: canned responses by shortcut prefix (or by words), and where to put one in the text.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request } from "../api/http";
import type { KbDoc } from "../api/types";

/** The `/word` the caret is in ("" when none): a slash at the start of the text or after a space. */
export function slashQuery(text: string, caret: number): string | null {
  const match = /(?:^|\s)\/([^\s/]{0,40})$/u.exec(text.slice(0, caret));
  return match ? (match[1] ?? "") : null;
}

/** The text with the `/word` before the caret replaced by `body`, and the caret after it. */
export function insertCanned(text: string, caret: number, body: string): { text: string; caret: number } {
  const before = text.slice(0, caret);
  const start = before.lastIndexOf("/");
  const head = text.slice(0, start) + body;
  return { text: head + text.slice(caret), caret: head.length };
}

const SHORTCUT = /^[a-z0-9_-]*$/;

export const useCannedStore = defineStore("canned", () => {
  const results = ref<KbDoc[]>([]);
  let asked = 0;

  async function get(params: Record<string, string>): Promise<KbDoc[]> {
    const query = new URLSearchParams({ kind: "canned", limit: "8", ...params });
    return request<KbDoc[]>(`/api/kb?${query.toString()}`).catch(() => []);
  }

  /** Canned responses for `/query`: by shortcut prefix in the agent's language, then in any language,
   * then by the words of titles and texts (so `/退款` or `/refund policy` finds them too). */
  async function lookup(query: string, language: string): Promise<void> {
    const mine = ++asked;
    const q = query.toLowerCase();
    let docs: KbDoc[] = [];
    if (SHORTCUT.test(q)) {
      docs = await get({ shortcut: q, language });
      if (!docs.length) docs = await get({ shortcut: q });
    }
    if (!docs.length && q) docs = await get({ q });
    if (mine === asked) results.value = docs;
  }

  function clear(): void {
    asked++;
    results.value = [];
  }

  return { results, lookup, clear };
});
