// The login page's SSO part: the button only when the inbox has an identity provider, and the refusal's message.
import { flushPromises, mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { i18n, setLanguage } from "../src/i18n";
import { useSessionStore } from "../src/stores/session";
import SsoSignIn from "../src/views/login/SsoSignIn.vue";

function answer(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200 });
}

/** The page as App.vue shows it: the session restored (who am I, is SSO offered), then the form. */
async function shown(): Promise<ReturnType<typeof mount>> {
  const pinia = createPinia();
  setActivePinia(pinia);
  await useSessionStore().restore();
  const page = mount(SsoSignIn, { global: { plugins: [i18n, pinia] } });
  await flushPromises();
  return page;
}

describe("SSO sign-in", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    window.history.replaceState(null, "", "/");
    setLanguage("en");
  });

  it("shows the button only when single sign-on is configured", async () => {
    vi.stubGlobal("fetch", async () => answer({ enabled: false, local_login_admins_only: false }));
    const off = await shown();
    expect(off.find("#sso-button").exists()).toBe(false);
    vi.stubGlobal("fetch", async () => answer({ enabled: true, local_login_admins_only: false }));
    const on = await shown();
    expect(on.find("#sso-button").text()).toBe("Sign in with SSO");
  });

  it("says why the provider's answer was refused, in the user's language, and cleans the address", async () => {
    vi.stubGlobal("fetch", async () => answer({ enabled: true, local_login_admins_only: false }));
    window.history.replaceState(null, "", "/?sso_error=audience");
    setLanguage("zh-CN");
    const page = await shown();
    expect(page.find("#sso-error").text()).toBe("单点登录被拒绝：该身份令牌是为其他应用签发的");
    expect(window.location.search).toBe("");
    window.history.replaceState(null, "", "/?sso_error=made-up");
    setLanguage("en");
    const unknown = await shown();
    expect(unknown.find("#sso-error").text()).toContain("could not be used");
  });
});
