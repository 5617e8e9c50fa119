// One shared clock for countdowns and "time in state": a single timer for the whole page.
import { defineStore } from "pinia";
import { ref } from "vue";

export const useClockStore = defineStore("clock", () => {
  const now = ref(Date.now() / 1000);
  let timer: ReturnType<typeof setInterval> | undefined;

  /** Start ticking (idempotent). */
  function start(periodMs = 250): void {
    if (timer === undefined) timer = setInterval(() => (now.value = Date.now() / 1000), periodMs);
  }

  /** Stop ticking. */
  function stop(): void {
    clearInterval(timer);
    timer = undefined;
  }

  return { now, start, stop };
});
