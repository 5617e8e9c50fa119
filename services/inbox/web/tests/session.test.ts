// The session store against a stubbed fetch: login, its errors, the CSRF header, logout.
import { createPinia, setActivePinia } from "pinia";
import { useSessionStore } from "../src/stores/session";
import { request } from "../src/api/http";

function answer(status: number, body: unknown): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
}

describe("session store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("logs in and then sends the CSRF token on changes", async () => {
    const calls: [string, RequestInit][] = [];
    vi.stubGlobal("fetch", async (path: string, init: RequestInit) => {
      calls.push([path, init]);
      return path === "/api/login" ? answer(200, { id: "alice", name: "Alice", role: "agent", csrf: "tok" }) : answer(200, {});
    });
    const session = useSessionStore();
    expect(await session.login("alice", "pw")).toBe(true);
    expect(session.me?.name).toBe("Alice");
    expect(session.isSupervisor).toBe(false);
    await request("/api/state", { method: "POST", body: { state: "AVAILABLE" } });
    expect((calls[1]![1].headers as Record<string, string>)["X-CSRF-Token"]).toBe("tok");
    await session.logout();
    expect(session.me).toBeNull();
  });

  it("continues an SSO logout at the identity provider", async () => {
    const assign = vi.fn();
    vi.stubGlobal("location", { ...window.location, assign });
    const bye = "https://idp.example.com/logout?id_token_hint=a.b.c&post_logout_redirect_uri=https%3A%2F%2Fcc%2F";
    vi.stubGlobal("fetch", async (path: string) =>
      path === "/api/me" ? answer(200, { id: "sam", name: "Sam", role: "supervisor", csrf: "x" }) : answer(200, { ok: true, redirect: bye }));
    const session = useSessionStore();
    await session.restore();
    await session.logout();
    expect(session.me).toBeNull();
    expect(assign).toHaveBeenCalledWith(bye);
    vi.stubGlobal("fetch", async () => answer(200, { ok: true }));  // a password session: no provider
    await session.logout();
    expect(assign).toHaveBeenCalledTimes(1);
  });

  it("says why a login failed", async () => {
    const session = useSessionStore();
    vi.stubGlobal("fetch", async () => answer(401, "wrong username or password"));
    expect(await session.login("alice", "bad")).toBe(false);
    expect(session.loginError).toBe("wrong");
    vi.stubGlobal("fetch", async () => answer(429, "too many"));
    await session.login("alice", "bad");
    expect(session.loginError).toBe("tooMany");
    vi.stubGlobal("fetch", async () => answer(403, "local login is for administrators only; sign in with SSO"));
    await session.login("alice", "good");
    expect(session.loginError).toBe("ssoOnly");
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("offline");
    });
    await session.login("alice", "bad");
    expect(session.loginError).toBe("unavailable");
  });

  it("asks who is logged in and whether SSO is offered at once, and is checked only when both answered", async () => {
    const answers: Record<string, (r: Response) => void> = {};
    vi.stubGlobal("fetch", (path: string) => new Promise<Response>((resolve) => (answers[path] = resolve)));
    const session = useSessionStore();
    const restoring = session.restore();
    await Promise.resolve();
    expect(Object.keys(answers).sort()).toEqual(["/api/me", "/api/sso"]); // in parallel: no extra round trip
    answers["/api/me"]!(answer(401, "log in first"));
    await new Promise((r) => setTimeout(r, 0));
    expect(session.checked).toBe(false); // the form waits for the SSO answer, so nothing moves when it comes
    answers["/api/sso"]!(answer(200, { enabled: true, local_login_admins_only: false }));
    await restoring;
    expect([session.checked, session.me, session.ssoEnabled]).toEqual([true, null, true]);
  });

  it("restores a session from the cookie, or shows the login form", async () => {
    vi.stubGlobal("fetch", async () => answer(200, { id: "sam", name: "Sam", role: "supervisor", csrf: "x" }));
    const session = useSessionStore();
    await session.restore();
    expect(session.checked).toBe(true);
    expect(session.isSupervisor).toBe(true);
    vi.stubGlobal("fetch", async () => answer(401, "log in first"));
    await session.restore();
    expect(session.me).toBeNull();
  });
});
