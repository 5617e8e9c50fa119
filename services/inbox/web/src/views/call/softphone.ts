// The browser softphone: Twilio's Voice SDK (bundled from npm, its own lazily loaded chunk) registers a Device.
import { Device, type Call } from "@twilio/voice-sdk";
import { request } from "../../api/http";

export interface VoiceToken {
  token: string;
  identity: string;
  ttl: number;
}

let device: Device | null = null;

/** Register this browser as the agent's `client:` identity; rejects when Twilio cannot be reached in time. */
export async function register(token: string, timeoutMs = 15_000): Promise<void> {
  device?.destroy();
  const next = new Device(token, { closeProtection: true, logLevel: "warn" });
  // The agent accepted the offer in the desktop already: the leg Twilio rings here is that call.
  next.on("incoming", (call: Call) => call.accept());
  next.on("tokenWillExpire", () => {
    void request<VoiceToken>("/api/voice/token").then((fresh) => next.updateToken(fresh.token));
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the softphone did not register in time")), timeoutMs);
  });
  const failed = new Promise<never>((_, reject) => next.on("error", (err: Error) => reject(err)));
  try {
    await Promise.race([next.register(), late, failed]);
    device = next;
  } catch (err) {
    next.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
