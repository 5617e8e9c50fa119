// The supervisor's wallboard: queues and agents live, today by interval, alerts; polled with back-off while shown.
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { request } from "../api/http";
import type { Wallboard } from "../api/schemas";
import { nextDelay } from "../views/wallboard/format";

export const useWallboardStore = defineStore("wallboard", () => {
  const data = ref<Wallboard | null>(null);
  const error = ref("");
  const failures = ref(0);
  const lastOk = ref(0); // epoch seconds of the last answer
  let timer: ReturnType<typeof setTimeout> | undefined;
  let viewers = 0; // boards shown now (the desktop's and the TV's swap places)

  /** Fetch the board now; a failure keeps the last figures and is counted for the back-off. */
  async function load(): Promise<void> {
    try {
      data.value = await request<Wallboard>("/api/supervisor/wallboard");
      error.value = "";
      failures.value = 0;
      lastOk.value = Date.now() / 1000;
    } catch (err) {
      failures.value += 1;
      error.value = err instanceof Error ? err.message : String(err);
    }
  }

  function schedule(): void {
    clearTimeout(timer);
    if (viewers === 0) return;
    timer = setTimeout(() => void load().then(schedule), nextDelay(data.value?.refresh_seconds ?? 5, failures.value));
  }

  /** Poll while the board is shown (socket events also reload it, sooner). */
  function start(): void {
    viewers += 1;
    if (viewers === 1) void load().then(schedule);
  }

  function stop(): void {
    viewers = Math.max(0, viewers - 1);
    if (viewers === 0) clearTimeout(timer);
  }

  const retryIn = computed(() => (failures.value ? nextDelay(data.value?.refresh_seconds ?? 5, failures.value) / 1000 : 0));
  return { data, error, failures, lastOk, retryIn, load, start, stop };
});
