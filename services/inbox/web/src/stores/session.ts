// Who is logged in: login, logout and restoring the session from its cookie; and whether single sign-on is offered.
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { ApiError, request, setCsrf } from "../api/http";
import type { LoginBody, LogoutResult, SsoStatus } from "../api/schemas";
import type { Me } from "../api/types";

export type LoginError = "" | "wrong" | "tooMany" | "unavailable" | "ssoOnly";

export const useSessionStore = defineStore("session", () => {
  const me = ref<Me | null>(null);
  const checked = ref(false);
  const ssoEnabled = ref(false);
  const loginError = ref<LoginError>("");
  const isSupervisor = computed(() => me.value !== null && me.value.role !== "agent");
  const isAdmin = computed(() => me.value?.role === "admin");

  function adopt(user: Me): void {
    me.value = user;
    setCsrf(user.csrf);
  }

  /** Ask the server who the cookie belongs to (null when nobody is logged in) and, at the same time, whether
   *  single sign-on is offered: the login form appears whole, so its button does not move under the pointer
   *  when the "Sign in with SSO" button arrives later (the card is centred, and a late button shifted it). */
  async function restore(): Promise<void> {
    const [who, sso] = await Promise.allSettled([request<Me>("/api/me"), request<SsoStatus>("/api/sso")]);
    if (who.status === "fulfilled") adopt(who.value);
    else me.value = null;
    ssoEnabled.value = sso.status === "fulfilled" && sso.value.enabled === true;
    checked.value = true;
  }

  /** Log in; on failure loginError says why. */
  async function login(username: string, password: string): Promise<boolean> {
    loginError.value = "";
    try {
      const body: LoginBody = { username, password };
      adopt(await request<Me>("/api/login", { method: "POST", body }));
      return true;
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      loginError.value =
        status === 429 ? "tooMany" : status === 403 ? "ssoOnly" : status === 401 || status === 400 ? "wrong" : "unavailable";
      return false;
    }
  }

  /** Log out of the inbox and the router; an SSO session then ends at the identity provider too, which
   *  sends the browser back to the login page (OpenID Connect RP-Initiated Logout). */
  async function logout(): Promise<void> {
    const done = await request<LogoutResult>("/api/logout", { method: "POST" }).catch(() => null);
    me.value = null;
    setCsrf("");
    if (done?.redirect) window.location.assign(done.redirect);
  }

  return { me, checked, ssoEnabled, loginError, isSupervisor, isAdmin, restore, login, logout };
});
