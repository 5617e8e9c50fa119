// The disposition codes of the wrap-up form, from the inbox's configuration (GET /api/dispositions).
import { defineStore } from "pinia";
import { ref } from "vue";
import { request } from "../api/http";
import type { Disposition, Dispositions } from "../api/schemas";

export const useDispositionsStore = defineStore("dispositions", () => {
  const list = ref<Disposition[]>([]);
  let loading: Promise<void> | null = null;

  /** Load once per session (the list changes only with the configuration). */
  function load(): Promise<void> {
    loading ??= request<Dispositions>("/api/dispositions")
      .then((d) => void (list.value = d.dispositions))
      .catch(() => void (loading = null));
    return loading;
  }

  /** The label in the chosen language, else English, else the code. */
  function label(d: Disposition, locale: string): string {
    return d.labels[locale] ?? d.labels.en ?? d.code;
  }

  return { list, load, label };
});
