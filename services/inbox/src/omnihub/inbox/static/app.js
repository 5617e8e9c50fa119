// omnihub inbox client: plain ES module, no build step. Customer content only ever goes through textContent.
import { applyTranslations, translator } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, lang: localStorage.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
  conversations: new Map(), current: null, offer: null, offerTimer: null, ws: null, wsBackoff: 500, unread: new Map() };
let t = translator(state.lang);
// A channel's name in the UI language ("CHANNEL_WECHAT" -> "WeChat" / "微信"); "" when unset.
const channelName = (channel) => (channel ? t(channel) : "");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.me && method !== "GET") headers["X-CSRF-Token"] = state.me.csrf;
  const resp = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
  if (!resp.ok) {
    const err = new Error(await resp.text());
    err.status = resp.status;
    throw err;
  }
  return resp.json();
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.classList.add("show");
  setTimeout(() => box.classList.remove("show"), 3000);
}

function seconds(ts) { return ts ? Date.parse(ts) / 1000 : 0; }
function ago(ts) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds(ts)));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

// ---- login ---------------------------------------------------------------------------
async function boot() {
  $("lang").value = state.lang;
  applyTranslations(document, t);
  try { state.me = await api("/api/me"); } catch { state.me = null; }
  if (state.me) start(); else $("login").hidden = false;
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    state.me = await api("/api/login", { method: "POST", body: { username: $("username").value, password: $("password").value } });
    $("login").hidden = true;
    start();
  } catch (err) {
    $("login-error").textContent = err.status === 429 ? t("tooMany") : t("loginFailed");
  }
});

$("lang").addEventListener("change", () => {
  state.lang = $("lang").value;
  localStorage.setItem("lang", state.lang);
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  t = translator(state.lang);
  applyTranslations(document, t);
  renderList();
  if (state.current) openConversation(state.current);
  if (!$("view-wall").hidden) loadWallboard();
  if (!$("view-perf").hidden) loadPerformance();
});

$("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST" }).catch(() => {});
  location.reload();
});

async function start() {
  $("app").hidden = false;
  $("who").textContent = `${state.me.name} · ${state.me.role}`;
  $("state").value = "OFFLINE";  // until the router tells us otherwise
  if (state.me.role !== "agent") {
    $("tab-wall").hidden = false;
    $("state").closest("label").hidden = true;  // supervisors are not routed to
  }
  connect();
  await refreshConversations();
  loadCanned("");
  setInterval(() => { if (state.ws && state.ws.readyState === 1) state.ws.send("ping"); }, 15000);
  setInterval(renderList, 5000);
}

// ---- live socket with reconnect and catch-up --------------------------------------------
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/agent`);
  state.ws = ws;
  ws.addEventListener("open", async () => {
    $("live").classList.add("on");
    state.wsBackoff = 500;
    await refreshConversations();  // catch up on what happened while we were away
    if (state.current) openConversation(state.current);
  });
  ws.addEventListener("message", (ev) => onLive(JSON.parse(ev.data)));
  ws.addEventListener("close", () => {
    $("live").classList.remove("on");
    toast(t("reconnecting"));
    setTimeout(connect, state.wsBackoff);
    state.wsBackoff = Math.min(10000, state.wsBackoff * 2);
  });
}

function onLive(msg) {
  const { type, data } = msg;
  if (type === "offer") showOffer(data);
  else if (type === "offer_withdrawn") { if (state.offer && state.offer.reservation_id === data) hideOffer(); }
  else if (type === "assigned") { state.conversations.set(data.id, data); renderList(); }
  else if (type === "unassigned") { state.conversations.delete(data); renderList(); }
  else if (type === "agent") {
    const s = (data.state || "AGENT_STATE_OFFLINE").replace("AGENT_STATE_", "");
    $("state").value = ["BUSY", "WRAP_UP"].includes(s) ? "AVAILABLE" : s;
    $("state").title = s;
  }
  else if (type === "message") {
    if (state.current === data.conversation_id) appendMessage(data);
    else state.unread.set(data.conversation_id, (state.unread.get(data.conversation_id) || 0) + 1);
    refreshConversations();
  } else if (type === "status") {
    const node = document.querySelector(`[data-msg="${CSS.escape(data.id)}"] .status`);
    if (node) node.textContent = t(data.status) + (data.error ? `: ${data.error}` : "");
  } else if (type === "visitor_typing") {
    if (state.current === data.conversation_id) $("conv-header").classList.toggle("typing", data.typing);
  } else if (type === "event") {
    refreshConversations();
    if (!$("view-wall").hidden) loadWallboard();
  }
}

// ---- state and offers ------------------------------------------------------------------
$("state").addEventListener("change", async () => {
  const value = $("state").value;
  $("away-reason").hidden = value !== "AWAY";
  try { await api("/api/state", { method: "POST", body: { state: value, reason: value === "AWAY" ? $("away-reason").value : "" } }); }
  catch (err) { toast(err.message); }
});
$("away-reason").addEventListener("change", () => $("state").dispatchEvent(new Event("change")));

function showOffer(offer) {
  state.offer = offer;
  const c = offer.conversation || {};
  $("offer-channel").textContent = channelName(c.channel);
  $("offer-customer").textContent = c.customer_display_name || c.identity?.source_id || "";
  $("offer-preview").textContent = c.preview || c.subject || "";
  $("offer").hidden = false;
  clearInterval(state.offerTimer);
  const tick = () => {
    const left = Math.max(0, Math.round(seconds(offer.expire_time) - Date.now() / 1000));
    $("offer-countdown").textContent = `${left}s`;
    if (left <= 0) hideOffer();
  };
  tick();
  state.offerTimer = setInterval(tick, 250);
}

function hideOffer() { clearInterval(state.offerTimer); state.offer = null; $("offer").hidden = true; }

$("offer-accept").addEventListener("click", async () => {
  if (!state.offer) return;
  try {
    const conv = await api(`/api/offers/${encodeURIComponent(state.offer.reservation_id)}/accept`, { method: "POST" });
    hideOffer();
    state.conversations.set(conv.id, conv);
    renderList();
    openConversation(conv.id);
  } catch (err) { toast(err.message); hideOffer(); }
});
$("offer-reject").addEventListener("click", async () => {
  if (!state.offer) return;
  await api(`/api/offers/${encodeURIComponent(state.offer.reservation_id)}/reject`, { method: "POST" }).catch(() => {});
  hideOffer();
});

// ---- conversation list ---------------------------------------------------------------
async function refreshConversations() {
  try {
    const list = await api("/api/conversations");
    state.conversations = new Map(list.filter((c) => c.routing_state !== "ROUTING_STATE_OFFERED").map((c) => [c.id, c]));
    renderList();
  } catch (err) { if (err.status === 401) location.reload(); }
}

function renderList() {
  const ul = $("conv-list");
  ul.replaceChildren();
  for (const c of state.conversations.values()) {
    const unread = state.unread.get(c.id) || 0;
    const li = el("li", { class: `conv${state.current === c.id ? " active" : ""}`, "data-id": c.id },
      el("span", { class: "chip", text: channelName(c.channel) }),
      el("strong", { text: c.customer_display_name || c.identity?.source_id || c.id }),
      el("span", { class: "preview", text: c.preview || c.subject || "" }),
      el("span", { class: "meta", text: `${ago(c.enqueue_time || c.create_time)} · ${c.queue}` }));
    if (unread) li.append(el("span", { class: "badge", text: String(unread) }));
    if (c.flagged) li.classList.add("flagged");
    li.addEventListener("click", () => openConversation(c.id));
    ul.append(li);
  }
}

// ---- conversation view -------------------------------------------------------------------
async function openConversation(id) {
  state.current = id;
  state.unread.delete(id);
  renderList();
  let data;
  try { data = await api(`/api/conversations/${encodeURIComponent(id)}/messages`); } catch (err) { toast(err.message); return; }
  const c = data.conversation;
  const header = $("conv-header");
  header.replaceChildren(el("span", { class: "chip", text: channelName(c.channel) }),
    el("strong", { text: c.customer_display_name || c.identity?.source_id || "" }),
    el("span", { class: "meta", text: `${c.queue} · ${c.id}` }));
  if (c.subject) header.append(el("div", { class: "subject", text: c.subject }));
  if (c.recording_uri) header.append(el("a", { href: c.recording_uri, text: "recording", rel: "noopener noreferrer", target: "_blank" }));
  const tl = $("timeline");
  tl.replaceChildren();
  for (const m of data.messages) appendMessage(m);
  $("composer").hidden = false;
  $("side").hidden = false;
  $("subject").hidden = c.channel !== "CHANNEL_EMAIL";
  $("composer").dataset.channel = c.channel;
  updateCounter();
  state.customer = c.customer_id;
  renderCustomer(c);
  loadTransferTargets();
}

async function renderCustomer(c) {
  const dl = $("customer");
  const cust = await api(`/api/customers/${encodeURIComponent(c.customer_id)}`).catch(() => ({ identities: [c.identity] }));
  dl.replaceChildren(el("dt", { text: t("queue") }), el("dd", { text: c.queue || "" }), el("dt", { text: t("identity") }));
  for (const i of cust.identities || []) dl.append(el("dd", { class: "identity", text: `${channelName(i.channel)}: ${i.source_id}` }));
}

$("merge").addEventListener("click", async () => {
  const source = $("merge-identity").value.trim();
  if (!source || !state.customer) return;
  try {
    await api(`/api/customers/${encodeURIComponent(state.customer)}/merge`, { method: "POST", body: { channel: $("merge-channel").value, source_id: source } });
    $("merge-identity").value = "";
    setTimeout(() => openConversation(state.current), 500);
  } catch (err) { toast(err.message); }
});

function appendMessage(m) {
  const li = el("li", { class: `msg ${m.direction}${m.private ? " private" : ""}`, "data-msg": m._id || m.id });
  if (m.conversation_id !== state.current) li.classList.add("history");
  li.append(el("span", { class: "meta", text: `${channelName(m.channel ? "CHANNEL_" + m.channel.toUpperCase() : "")} · ${new Date(m.time * 1000).toLocaleString()}${m.agent_id ? " · " + m.agent_id : ""}` }));
  if (m.subject) li.append(el("div", { class: "subject", text: m.subject }));
  li.append(el("div", { class: "body", text: m.text || "" }));  // text only: never HTML
  for (const a of m.attachments || []) li.append(el("div", { class: "attachment", text: `[${a.content_type || "file"}] ${a.file_name || ""}` }));
  if (m.direction === "outgoing") li.append(el("span", { class: "status", text: t(m.status || "sent") }));
  $("timeline").append(li);
  li.scrollIntoView({ block: "end" });
}

// GSM-7 basic set: SMS counts 160/153 per segment in GSM-7, 70/67 in UCS-2.
const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
function smsSegments(text) {
  const gsm = [...text].every((ch) => GSM.includes(ch) || "^{}\\[~]|€".includes(ch));
  const len = gsm ? [...text].reduce((n, ch) => n + ("^{}\\[~]|€".includes(ch) ? 2 : 1), 0) : [...text].length;
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  return { len, segments: len <= single ? 1 : Math.ceil(len / multi), encoding: gsm ? "GSM-7" : "UCS-2" };
}

function updateCounter() {
  const counter = $("sms-counter");
  if ($("composer").dataset.channel !== "CHANNEL_SMS") { counter.textContent = ""; return; }
  const s = smsSegments($("reply").value);
  counter.textContent = `${s.len} ${t("chars")} · ${s.segments} ${t("segments")} · ${s.encoding}`;
  counter.classList.toggle("over", s.len > 1600);
}
$("reply").addEventListener("input", updateCounter);
let typingTimer = null;
$("reply").addEventListener("input", () => {
  if (!state.current || $("composer").dataset.channel !== "CHANNEL_WEBCHAT") return;
  if (!typingTimer) api(`/api/conversations/${encodeURIComponent(state.current)}/typing`, { method: "POST", body: { typing: true } }).catch(() => {});
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => {
    typingTimer = null;
    api(`/api/conversations/${encodeURIComponent(state.current)}/typing`, { method: "POST", body: { typing: false } }).catch(() => {});
  }, 3000);
});

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("reply").value.trim();
  if (!text || !state.current) return;
  try {
    await api(`/api/conversations/${encodeURIComponent(state.current)}/reply`, { method: "POST",
      body: { text, private: $("private").checked, subject: $("subject").value } });
    $("reply").value = "";
    $("private").checked = false;
    updateCounter();
  } catch (err) { toast(err.message); }
});

async function loadCanned(q) {
  const docs = await api(`/api/kb?q=${encodeURIComponent(q)}`).catch(() => []);
  const sel = $("canned");
  sel.replaceChildren(el("option", { value: "", text: t("canned") }));
  for (const d of docs) sel.append(el("option", { value: d.body, text: d.title }));
}
$("kb-search").addEventListener("input", () => loadCanned($("kb-search").value));
$("canned").addEventListener("change", () => { if ($("canned").value) { $("reply").value = $("canned").value; updateCounter(); } });

async function loadTransferTargets() {
  const sel = $("transfer-target");
  sel.replaceChildren();
  for (const q of ["support", "sales", "general"]) sel.append(el("option", { value: `queue:${q}`, text: `${t("toQueue")}: ${q}` }));
  const agents = await api("/api/agents").catch(() => []);
  for (const a of agents) if (a.id !== state.me.id) sel.append(el("option", { value: `agent:${a.id}`, text: `${t("toAgent")}: ${a.display_name} (${(a.state || "").replace("AGENT_STATE_", "")})` }));
}

$("transfer").addEventListener("click", async () => {
  const [kind, target] = $("transfer-target").value.split(":");
  try {
    await api(`/api/conversations/${encodeURIComponent(state.current)}/transfer`, { method: "POST", body: kind === "queue" ? { to_queue: target } : { to_agent: target } });
    closeCurrent();
  } catch (err) { toast(err.message); }
});

$("wrapup").addEventListener("click", async () => {
  try {
    await api(`/api/conversations/${encodeURIComponent(state.current)}/wrapup`, { method: "POST",
      body: { disposition: $("disposition").value, resolved: $("resolved").checked } });
    toast(t("wrappedUp"));
    closeCurrent();
  } catch (err) { toast(err.message); }
});

function closeCurrent() {
  state.conversations.delete(state.current);
  state.current = null;
  $("timeline").replaceChildren();
  $("conv-header").textContent = t("noConversation");
  $("composer").hidden = true;
  $("side").hidden = true;
  renderList();
}

// ---- tabs ---------------------------------------------------------------------------
function show(view) {
  for (const v of ["inbox", "perf", "wall"]) {
    $(`view-${v}`).hidden = v !== view;
    $(`tab-${v}`).classList.toggle("active", v === view);
  }
  if (view === "perf") loadPerformance();
  if (view === "wall") loadWallboard();
}
$("tab-inbox").addEventListener("click", () => show("inbox"));
$("tab-perf").addEventListener("click", () => show("perf"));
$("tab-wall").addEventListener("click", () => show("wall"));

const pct = (x) => (x === null ? "—" : `${Math.round((x || 0) * 100)}%`);  // null: nothing answered
const secs = (x) => `${Math.round(x || 0)}s`;

let performanceLoad = 0;

async function loadPerformance() {
  const box = $("perf-tiles");
  const load = ++performanceLoad;
  const data = await api("/api/kpis/me").catch(() => ({ available: false }));
  if (load !== performanceLoad) return;
  box.replaceChildren();
  if (!data.available) { box.append(el("p", { text: t("kpisUnavailable") })); return; }
  const fields = [["handled", String], ["aht", secs], ["fcr", pct], ["csat", pct], ["occupancy", pct]];
  const blank = (row, k, fmt) => (k === "csat" && !row?.csat_responses ? "—" : fmt(row?.[k]));
  for (const [k, fmt] of fields) {
    box.append(el("div", { class: "tile", "data-kpi": k }, el("span", { class: "label", text: t(k) }),
      el("strong", { class: "value", text: blank(data.today, k, fmt) }),
      el("span", { class: "meta", text: `${t("week")} ${blank(data.week, k, fmt)} · ${t("team")} ${fmt(data.team?.[k])}` })));
  }
  $("perf-trend").replaceChildren(barChart(data.trend.map((r) => [r.key.slice(5, 10), r.handled]), (v) => String(v)));
  loadEvaluations();
}

let evaluationsLoad = 0;

async function loadEvaluations() {
  const list = $("perf-qa");
  const load = ++evaluationsLoad;
  const docs = await api("/api/evaluations/me").catch(() => []);
  if (load !== evaluationsLoad) return; // a newer load renders; a stale answer must not wipe it
  // keep what the agent is typing: a refresh must not blank a half-written dispute reason
  const drafts = new Map([...list.querySelectorAll(".qa-item")].map((li) => [li.dataset.eval, li.querySelector("input")?.value || ""]));
  list.replaceChildren();
  for (const ev of docs) {
    const li = el("li", { class: `qa-item ${ev.status}`, "data-eval": ev._id },
      el("strong", { text: `${Math.round(ev.score)} / 100` }),
      el("span", { class: "meta", text: ` ${ev.conversation_id} · ${t("evaluator")} ${ev.evaluator_id} · ${t(ev.status)}` }));
    if (ev.comments) li.append(el("div", { text: ev.comments }));
    if (ev.status === "submitted") {
      const ack = el("button", { text: t("acknowledge") });
      const dispute = el("button", { text: t("dispute") });
      const reason = el("input", { placeholder: t("disputeReason") });
      reason.value = drafts.get(ev._id) || "";
      ack.addEventListener("click", () => api(`/api/evaluations/${encodeURIComponent(ev._id)}/acknowledge`, { method: "POST", body: {} }).then(loadEvaluations).catch((e) => toast(e.message)));
      dispute.addEventListener("click", () => api(`/api/evaluations/${encodeURIComponent(ev._id)}/dispute`, { method: "POST", body: { note: reason.value } }).then(loadEvaluations).catch((e) => toast(e.message)));
      li.append(el("div", { class: "row" }, ack, reason, dispute));
    }
    list.append(li);
  }
}

function barChart(points, fmt, target) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = 640, h = 160, pad = 24, max = Math.max(1, ...points.map((p) => p[1]), target || 0);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "chart");
  const step = (w - 2 * pad) / Math.max(1, points.length);
  points.forEach(([label, value], i) => {
    const bh = (h - 2 * pad) * (value / max);
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", pad + i * step + 2); r.setAttribute("y", h - pad - bh);
    r.setAttribute("width", Math.max(2, step - 4)); r.setAttribute("height", bh);
    if (target !== undefined) r.setAttribute("class", value >= target ? "good" : "bad");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${label}: ${fmt(value)}`;
    r.append(title);
    const tx = document.createElementNS(ns, "text");
    tx.setAttribute("x", pad + i * step + 2); tx.setAttribute("y", h - 6); tx.textContent = label;
    svg.append(r, tx);
  });
  if (target !== undefined) {
    const line = document.createElementNS(ns, "line");
    const y = h - pad - (h - 2 * pad) * (target / max);
    line.setAttribute("x1", pad); line.setAttribute("x2", w - pad); line.setAttribute("y1", y); line.setAttribute("y2", y);
    line.setAttribute("class", "target");
    svg.append(line);
  }
  return svg;
}

async function loadWallboard() {
  let data;
  try { data = await api("/api/supervisor/wallboard"); } catch (err) { toast(err.message); return; }
  const box = $("wall-queues");
  box.replaceChildren();
  for (const q of data.queues) {
    const sl = q.service_level_today ?? 1, target = q.service_level_target ?? 0.8;
    const colour = sl >= target ? "good" : sl >= target - 0.1 ? "warn" : "bad";
    const states = Object.entries(q.agents_by_state || {}).map(([k, v]) => `${k} ${v}`).join(" · ");
    box.append(el("div", { class: `tile ${colour}`, "data-queue": q.queue },
      el("span", { class: "label", text: q.queue }),
      el("strong", { class: "value", text: `${t("waitingCount")} ${q.waiting || 0}` }),
      el("span", { class: "meta", text: `${t("longestWait")} ${q.longest_wait || "0s"} · ${t("estimatedWait")} ${q.estimated_wait || "0s"}` }),
      el("span", { class: "sl", text: `${t("serviceLevel")} ${pct(sl)} (${t("target")} ${pct(target)}/${q.service_level_threshold_seconds || 20}s) · ${q.answered_today || 0}/${q.abandoned_today || 0}` }),
      el("span", { class: "meta", text: states })));
  }
  $("wall-chart").replaceChildren(barChart(data.hourly.map((r) => [r.key.slice(11, 16), r.service_level_b]), pct, 0.8));
  const tbody = $("wall-agents").querySelector("tbody");
  tbody.replaceChildren();
  for (const a of data.agents) {
    const sel = el("select", { "data-agent": a.id });
    for (const s of ["AVAILABLE", "AWAY", "OFFLINE"]) sel.append(el("option", { value: s, text: t(s.toLowerCase()) }));
    sel.value = (a.state || "").replace("AGENT_STATE_", "");
    sel.addEventListener("change", () => api(`/api/supervisor/agents/${encodeURIComponent(a.id)}/state`, { method: "POST", body: { state: sel.value } }).then(loadWallboard).catch((e) => toast(e.message)));
    tbody.append(el("tr", {}, el("td", { text: a.display_name }), el("td", { text: (a.state || "").replace("AGENT_STATE_", "") + (a.state_reason ? ` (${a.state_reason})` : "") }),
      el("td", { text: String((a.conversation_ids || []).length) }), el("td", {}, sel)));
  }
}

$("kb-save").addEventListener("click", async () => {
  try {
    await api("/api/supervisor/kb", { method: "POST", body: { title: $("kb-title").value, body: $("kb-body").value } });
    $("kb-title").value = ""; $("kb-body").value = "";
    toast(t("saved"));
    loadCanned("");
  } catch (err) { toast(err.message); }
});

$("why").addEventListener("click", async () => {
  try {
    const d = await api(`/api/supervisor/conversations/${encodeURIComponent($("why-id").value.trim())}/why`);
    $("why-out").textContent = d.map((x) => `${x.decide_time} ${x.strategy} step ${x.relaxation_step || 0} → ${x.chosen_agent} (${x.reason}, ${x.eligible_count || 1} eligible)\n` +
      (x.candidates || []).map((c) => `   ${c.agent_id}: ${c.score.toFixed(2)} ${c.detail}`).join("\n")).join("\n");
  } catch (err) { $("why-out").textContent = err.message; }
});

setInterval(() => { if (!$("view-wall").hidden) loadWallboard(); }, 5000);
boot();
