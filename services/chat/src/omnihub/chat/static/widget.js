/* omnihub chat widget: one script tag, no build step, no CDN. All text goes through textContent. */
(function () {
  "use strict";
  if (window.__omnihubChat) return;

  var script = document.currentScript;
  var base = new URL(script && script.src ? script.src : "/widget.js", window.location.href);
  var wsUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/ws/chat";
  var STORE = "omnihub.chat.v1";

  // Text in the visitor's language: the page's lang, else the browser's; Chinese -> zh-CN, anything else -> en.
  // One table, each text beside its translation, so that neither language can miss a key.
  var LANGUAGES = ["en", "zh-CN"];
  var TEXT = {
    bubble: ["Chat", "在线咨询"], open: ["Open chat", "打开在线咨询"], title: ["Chat with us", "在线咨询"],
    end: ["End chat", "结束对话"], name: ["Your name", "您的姓名"], email: ["Email", "电子邮箱"],
    topic: ["Topic", "咨询类别"], start: ["Start chat", "开始对话"], message: ["Type a message\u2026", "请输入消息\u2026"],
    attach: ["Attach a file", "添加文件"], send: ["Send", "发送"],
    ended: ["You ended the chat. Send a message to start again.", "您已结束对话。发送消息即可重新开始。"],
    reconnecting: ["Reconnecting\u2026", "正在重新连接\u2026"],
    position: ["You are number {position} in the queue. Estimated wait: about {minutes} min.",
               "您前面还有 {ahead} 位，当前排在第 {position} 位，预计等待约 {minutes} 分钟。"],
    waiting: ["Waiting for the next available agent\u2026", "正在为您分配客服，请稍候\u2026"],
    agent: ["Agent", "客服"], typing: ["{agent} is typing\u2026", "{agent}正在输入\u2026"],
    sent: ["Sent", "已发送"], read: ["Read", "已读"], thanks: ["Thank you for your feedback!", "感谢您的评价！"],
    uploadFailed: ["upload failed", "文件上传失败"], score: ["Score {score}", "{score} 分"]
  };
  // The service's errors by code in Chinese; in English its own messages say more (limits, waits).
  var ERRORS_ZH = {
    bad_token: "您的会话已失效，请重新开始。",
    rate_limited: "尝试次数过多，请稍后再试。",
    too_large: "消息过长。",
    bad_request: "无法发送该内容。",
    bad_hello: "对话无法开始，请刷新页面。",
    upload: "文件无法上传（类型或大小不符合要求）。",
    other: "出现问题，请稍后再试。"
  };
  var lang = chooseLanguage();
  var T = { errors: lang === "zh-CN" ? ERRORS_ZH : {} };
  Object.keys(TEXT).forEach(function (key) { T[key] = TEXT[key][LANGUAGES.indexOf(lang)]; });

  function chooseLanguage() {
    var wanted = [document.documentElement.getAttribute("lang") || ""].concat(
      navigator.languages ? Array.prototype.slice.call(navigator.languages) : [navigator.language || ""]);
    for (var i = 0; i < wanted.length; i++) {
      var tag = String(wanted[i] || "").toLowerCase();
      if (!tag) continue;
      return tag.indexOf("zh") === 0 ? "zh-CN" : "en";
    }
    return "en";
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
  }

  var state = load();
  var ws = null;
  var online = true;       // false while a test or the user keeps the socket down
  var retry = 0;
  var rendered = {};       // seq -> true: never show an entry twice
  var pending = [];        // visitor messages not yet echoed by the server
  var waitingFiles = [];   // files picked before the server's welcome gave this visitor a token
  var typingTimer = null;
  var agentSeen = false;
  var lastSeq = 0;         // per page: a fresh page replays the whole history once

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { window.localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // Stylesheet (external: the CSP forbids inline styles).
  if (!document.querySelector('link[href$="/widget.css"]')) {
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = new URL("/widget.css", base).href;
    document.head.appendChild(css);
  }

  // DOM.
  var bubble = el("button", "omni-bubble", T.bubble);
  bubble.id = "omni-bubble";
  bubble.setAttribute("aria-label", T.open);
  bubble.setAttribute("lang", lang);
  var panel = el("section", "omni-panel omni-hidden");
  panel.id = "omni-panel";
  panel.setAttribute("lang", lang);
  panel.setAttribute("aria-label", T.title);
  var header = el("div", "omni-header");
  header.appendChild(el("strong", "", T.title));
  var closeBtn = el("button", "", T.end);
  closeBtn.id = "omni-close";
  header.appendChild(closeBtn);
  panel.appendChild(header);

  var form = el("form", "omni-form");
  form.id = "omni-form";
  var nameIn = input("omni-name", "text", T.name);
  var emailIn = input("omni-email", "email", T.email);
  var topicIn = document.createElement("select");
  topicIn.id = "omni-topic";
  topicIn.setAttribute("aria-label", T.topic);
  loadTopics();
  var startBtn = el("button", "", T.start);
  startBtn.id = "omni-start";
  startBtn.type = "submit";
  [nameIn, emailIn, topicIn, startBtn].forEach(function (n) { form.appendChild(n); });
  panel.appendChild(form);

  var logBox = el("div", "omni-log omni-hidden");
  logBox.id = "omni-log";
  logBox.setAttribute("aria-live", "polite");
  panel.appendChild(logBox);
  var status = el("div", "omni-status");
  status.id = "omni-status";
  panel.appendChild(status);
  var bar = el("form", "omni-input omni-hidden");
  bar.id = "omni-bar";
  var textIn = input("omni-text", "text", T.message);
  textIn.maxLength = 4000;
  var fileIn = input("omni-file", "file", "");
  fileIn.className = "omni-hidden";
  var attachBtn = el("button", "", "+");
  attachBtn.type = "button";
  attachBtn.setAttribute("aria-label", T.attach);
  attachBtn.title = T.attach; // the "+" says what it does on hover too, not only to screen readers
  var sendBtn = el("button", "", T.send);
  sendBtn.id = "omni-send";
  sendBtn.type = "submit";
  [textIn, fileIn, attachBtn, sendBtn].forEach(function (n) { bar.appendChild(n); });
  panel.appendChild(bar);
  document.body.appendChild(bubble);
  document.body.appendChild(panel);

  function input(id, type, placeholder) {
    var node = document.createElement("input");
    node.id = id; node.type = type; node.placeholder = placeholder;
    if (placeholder) node.setAttribute("aria-label", placeholder);
    return node;
  }

  // The topics come from the chat service's configuration, labelled in the visitor's language.
  function loadTopics() {
    fetch(new URL("/widget/config", base).href, { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : { topics: [] }; })
      .then(function (config) {
        (config.topics || []).forEach(function (t) {
          var labels = t.labels || {};
          var opt = el("option", "", labels[lang] || labels.en || t.id);
          opt.value = t.id;
          topicIn.appendChild(opt);
        });
        if (!topicIn.options.length) topicIn.classList.add("omni-hidden");
      })
      .catch(function () { topicIn.classList.add("omni-hidden"); });
  }

  bubble.addEventListener("click", function () {
    panel.classList.toggle("omni-hidden");
    if (state.token) startChat();
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    state.name = nameIn.value.trim();
    state.email = emailIn.value.trim();
    state.topic = topicIn.value;
    save();
    startChat();
  });
  bar.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = textIn.value;
    if (!text.trim()) return;
    textIn.value = "";
    sendMessage(text, []);
  });
  textIn.addEventListener("input", function () {
    send({ type: "typing", on: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { send({ type: "typing", on: false }); }, 2000);
  });
  attachBtn.addEventListener("click", function () { fileIn.click(); });
  fileIn.addEventListener("change", function () {
    var file = fileIn.files && fileIn.files[0];
    if (file) upload(file);
    fileIn.value = "";
  });
  closeBtn.addEventListener("click", function () {
    send({ type: "close" });
    showSystem(T.ended);
  });
  document.addEventListener("visibilitychange", markRead);

  function startChat() {
    form.classList.add("omni-hidden");
    logBox.classList.remove("omni-hidden");
    bar.classList.remove("omni-hidden");
    if (!ws) connect();
  }

  function connect() {
    if (!online) return;
    ws = new WebSocket(wsUrl);
    ws.addEventListener("open", function () {
      retry = 0;
      ws.send(JSON.stringify({
        type: "hello", token: state.token || "", ack: lastSeq,
        name: state.name || "", email: state.email || "", topic: state.topic || ""
      }));
    });
    ws.addEventListener("message", function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(frame);
    });
    ws.addEventListener("close", function () {
      ws = null;
      if (!online) return;
      retry = Math.min(retry + 1, 6);
      setStatus(T.reconnecting);
      setTimeout(connect, 250 * Math.pow(2, retry - 1));
    });
  }

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function sendMessage(text, attachments) {
    var msg = { type: "message", client_id: "c" + Date.now().toString(36) +
      Math.random().toString(36).slice(2, 8), text: text, attachments: attachments };
    pending.push(msg);
    send(msg);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome":
        state.token = frame.token;
        save();
        setStatus("");
        pending.forEach(function (m) { send(m); }); // resent messages dedupe on client_id
        waitingFiles.splice(0).forEach(function (f) { upload(f); });
        break;
      case "msg":
        render(frame);
        break;
      case "queue":
        if (agentSeen) break;
        if (frame.known) {
          var mins = Math.max(1, Math.round(frame.estimated_wait_seconds / 60));
          setStatus(fill(T.position, { position: frame.position, ahead: Math.max(0, frame.position - 1),
            minutes: mins }));
        } else {
          setStatus(T.waiting);
        }
        break;
      case "typing":
        setStatus(frame.on ? fill(T.typing, { agent: frame.agent || T.agent }) : "");
        break;
      case "receipt":
        markReceipt(frame.id, frame.status);
        break;
      case "error":
        var line = el("div", "omni-msg omni-system omni-error",
          lang === "en" ? frame.message || frame.code : T.errors[frame.code] || T.errors.other);
        line.setAttribute("data-error", frame.code || "error");
        logBox.appendChild(line);
        logBox.scrollTop = logBox.scrollHeight;
        if (frame.code === "bad_token") { state = {}; save(); }
        break;
    }
  }

  function render(entry) {
    if (rendered[entry.seq]) return;
    rendered[entry.seq] = true;
    if (entry.client_id) {
      pending = pending.filter(function (m) { return m.client_id !== entry.client_id; });
    }
    var cls = entry.sender === "visitor" ? "omni-visitor" : entry.sender === "agent" ? "omni-agent" : "omni-system";
    var box = el("div", "omni-msg " + cls);
    box.setAttribute("data-seq", String(entry.seq));
    box.setAttribute("data-id", String(entry.id));
    box.setAttribute("data-sender", entry.sender);
    if (entry.sender === "agent" && entry.agent) box.appendChild(el("div", "omni-meta", entry.agent));
    var body = el("div", "omni-text", entry.text);
    box.appendChild(body);
    (entry.attachments || []).forEach(function (a) {
      var link = el("a", "omni-attachment", a.file_name || "attachment");
      // The visitor's own uploads, or an agent's file as the inbox's signed link (https, or http on loopback tests).
      if (typeof a.uri === "string" && (a.uri.indexOf("/widget/uploads/") === 0 || /^https?:\/\//.test(a.uri))) {
        link.href = a.uri;
        link.rel = "noopener noreferrer";
      }
      link.setAttribute("download", "");
      box.appendChild(link);
    });
    if (entry.kind === "survey") box.appendChild(surveyButtons(entry));
    if (entry.sender === "visitor") {
      box.setAttribute("data-receipt", "sent");
      box.appendChild(el("div", "omni-meta omni-receipt", T.sent));
    }
    logBox.appendChild(box);
    logBox.scrollTop = logBox.scrollHeight;
    if (entry.sender === "agent") { agentSeen = true; setStatus(""); }
    if (entry.seq > lastSeq) lastSeq = entry.seq;
    send({ type: "ack", seq: entry.seq });
    markRead();
  }

  function surveyButtons(entry) {
    var wrap = el("div", "omni-survey");
    var nps = entry.question === "nps";
    for (var n = nps ? 0 : 1; n <= (nps ? 10 : 5); n++) {
      (function (score) {
        var b = el("button", "", String(score));
        b.type = "button";
        b.setAttribute("data-score", String(score));
        b.setAttribute("aria-label", fill(T.score, { score: score }));
        b.addEventListener("click", function () {
          send({ type: "survey", survey_id: entry.survey_id, question: entry.question, score: score });
          wrap.textContent = T.thanks;
        });
        wrap.appendChild(b);
      })(n);
    }
    return wrap;
  }

  function markRead() {
    if (document.visibilityState === "visible" && lastSeq) send({ type: "read", seq: lastSeq });
  }

  function markReceipt(id, what) {
    var nodes = logBox.querySelectorAll(".omni-visitor");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute("data-id") !== String(id)) continue;
      nodes[i].setAttribute("data-receipt", String(what));
      var tick = nodes[i].querySelector(".omni-receipt");
      if (tick) tick.textContent = what === "read" ? T.read : T.sent;
    }
  }

  function showSystem(text) {
    var line = el("div", "omni-msg omni-system", text);
    logBox.appendChild(line);
  }

  function setStatus(text) { status.textContent = text; }

  function upload(file) {
    // An upload needs the visitor's token; a file picked before the welcome frame waits for it.
    if (!state.token) { waitingFiles.push(file); return; }
    var data = new FormData();
    data.append("file", file, file.name);
    fetch(new URL("/widget/upload", base).href, {
      method: "POST", body: data, headers: { "X-Visitor-Token": state.token || "" }
    }).then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        if (!res[0]) { onFrame({ type: "error", code: "upload", message: res[1].error }); return; }
        sendMessage("", [res[1]]);
      })
      .catch(function () { onFrame({ type: "error", code: "upload", message: T.uploadFailed }); });
  }

  // A small handle for tests and host pages.
  window.__omnihubChat = {
    goOffline: function () { online = false; if (ws) ws.close(); },
    goOnline: function () { online = true; if (!ws) connect(); },
    connected: function () { return !!ws && ws.readyState === WebSocket.OPEN; },
    state: function () { return JSON.parse(JSON.stringify(state)); },
    language: function () { return lang; }
  };
})();
