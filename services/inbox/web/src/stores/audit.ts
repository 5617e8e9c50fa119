// The audit trail (admins): the filters, the records shown (newest first, more on demand) and the CSV link.
import { defineStore } from "pinia";
import { reactive, ref } from "vue";
import { request } from "../api/http";
import type { AuditPage, AuditRecord } from "../api/schemas";

export interface AuditFilters {
  actor: string;
  action: string;
  target: string;
  since: string; // local date-time from the input, "" for none
  until: string;
}

export const useAuditStore = defineStore("audit", () => {
  const filters = reactive<AuditFilters>({ actor: "", action: "", target: "", since: "", until: "" });
  const records = ref<AuditRecord[]>([]);
  const next = ref("");
  const loading = ref(false);
  const failed = ref(false);
  let loads = 0;

  /** The filters as query parameters (times as seconds since the epoch). */
  function params(): URLSearchParams {
    const out = new URLSearchParams();
    for (const key of ["actor", "action", "target"] as const) if (filters[key].trim()) out.set(key, filters[key].trim());
    for (const key of ["since", "until"] as const) {
      const when = Date.parse(filters[key]);
      if (filters[key] && !Number.isNaN(when)) out.set(key, String(when / 1000));
    }
    return out;
  }

  /** The first page for the filters, or (more) the next older page appended. */
  async function load(more = false): Promise<void> {
    const query = params();
    if (more && next.value) query.set("cursor", next.value);
    const mine = ++loads;
    loading.value = true;
    try {
      const page = await request<AuditPage>(`/api/admin/audit?${query.toString()}`);
      if (mine !== loads) return;
      records.value = more ? [...records.value, ...page.records] : page.records;
      next.value = page.next ?? "";
      failed.value = false;
    } catch {
      if (mine === loads) failed.value = true;
    } finally {
      if (mine === loads) loading.value = false;
    }
  }

  /** The CSV download of everything the filters match. */
  function exportHref(): string {
    return `/api/admin/audit/export?${params().toString()}`;
  }

  return { filters, records, next, loading, failed, load, exportHref };
});
