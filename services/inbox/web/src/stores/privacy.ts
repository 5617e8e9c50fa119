// Retention and erasure (admins): every service's retention runs, one customer's erasure with its result per service.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type { ErasureReport, RetentionReport } from "../api/schemas";

export type EraseRefusal = "" | "confirm" | "unknown" | "failed";

export const usePrivacyStore = defineStore("privacy", () => {
  const retention = ref<RetentionReport | null>(null);
  const retentionFailed = ref(false);
  const erasure = ref<ErasureReport | null>(null);
  const erasing = ref(false);
  const refusal = ref<EraseRefusal>("");

  /** The retention settings and every service's latest runs. */
  async function loadRetention(): Promise<void> {
    try {
      retention.value = await request<RetentionReport>("/api/admin/retention");
      retentionFailed.value = false;
    } catch {
      retentionFailed.value = true;
    }
  }

  /** Erase one customer everywhere; `confirm` must repeat the id (checked here and by the server). */
  async function erase(customerId: string, confirm: string): Promise<boolean> {
    const id = customerId.trim();
    refusal.value = "";
    erasure.value = null;
    if (!id || confirm.trim() !== id) {
      refusal.value = "confirm";
      return false;
    }
    erasing.value = true;
    try {
      erasure.value = await request<ErasureReport>(`/api/admin/customers/${seg(id)}/erase`, {
        method: "POST",
        body: { confirm: id },
      });
      return true;
    } catch (e) {
      refusal.value = e instanceof ApiError && e.status === 404 ? "unknown" : e instanceof ApiError && e.status === 400 ? "confirm" : "failed";
      return false;
    } finally {
      erasing.value = false;
    }
  }

  return { retention, retentionFailed, erasure, erasing, refusal, loadRetention, erase };
});
