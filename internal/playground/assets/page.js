// The playground page: actions go to /api/* as JSON; the server says what changed over
// server-sent events and the page fetches just those parts again, rendered (and escaped) by
// the server. Nothing here builds HTML from data.
"use strict";

const LANG = document.body.dataset.lang;

// post sends an action; answers and errors come in the page's language.
async function post(path, body) {
  const resp = await fetch(path + "?lang=" + LANG, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  let res = {};
  try { res = await resp.json(); } catch (e) { res = {ok: false, error: resp.statusText}; }
  return res;
}

// showStatus writes an action's outcome under its form, as text.
function showStatus(el, res) {
  if (!el) return;
  el.replaceChildren();
  el.classList.toggle("error", !res.ok);
  const line = document.createElement("div");
  line.textContent = res.ok ? (res.message || "") : (res.error || "");
  el.append(line);
  if (res.problems) {
    const list = document.createElement("ul");
    for (const p of res.problems) {
      const li = document.createElement("li");
      li.textContent = p;
      list.append(li);
    }
    el.append(list);
  }
}

// Fragments: each element with data-chat or data-part is fetched again when it changes.
// A response older than one already shown is dropped.
const seq = new WeakMap();

async function refresh(el, url) {
  const n = (seq.get(el) || 0) + 1;
  seq.set(el, n);
  const resp = await fetch(url, {headers: {"Accept": "text/html"}});
  if (!resp.ok || seq.get(el) !== n) return;
  const html = await resp.text();
  if (seq.get(el) !== n) return;
  const msgs = el.querySelector(".msgs");
  const atBottom = !msgs || msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight < 40;
  el.innerHTML = html; // server-rendered with html/template
  if (atBottom) scrollDown(el);
}

function scrollDown(el) {
  const msgs = el.querySelector(".msgs");
  if (msgs) msgs.scrollTop = msgs.scrollHeight;
}

function refreshChat(el) {
  if (!el.dataset.chat || el.dataset.chat === "0") return Promise.resolve();
  return refresh(el, "/part/chat?id=" + encodeURIComponent(el.dataset.chat) + "&lang=" + LANG);
}

async function refreshPart(name) {
  const el = document.querySelector('[data-part="' + name + '"]');
  if (!el) return;
  let url = "/part/" + name + "?lang=" + LANG;
  if (name === "readers") url += "&selected=" + encodeURIComponent(readerChat().dataset.chat);
  await refresh(el, url);
  // The first readers arrive after the page was loaded: show the first one's chat.
  const first = document.querySelector("[data-reader]");
  if (name === "readers" && readerChat().dataset.chat === "0" && first) selectReader(first.dataset.reader);
}

function readerChat() { return document.getElementById("reader-chat"); }

function selectReader(id) {
  const chat = readerChat();
  chat.dataset.chat = String(id);
  localStorage.setItem("pg_reader", String(id));
  for (const b of document.querySelectorAll("[data-reader]")) {
    b.setAttribute("aria-selected", String(b.dataset.reader === String(id)));
  }
  return refreshChat(chat).then(() => scrollDown(chat));
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/events");
  let lost = false;
  es.addEventListener("open", () => {
    conn.hidden = true;
    if (!lost) return;
    // Back after a lost connection: what changed meanwhile was not announced.
    lost = false;
    for (const el of document.querySelectorAll(".chat")) refreshChat(el);
    refreshPart("readers");
    refreshPart("stories");
  });
  es.addEventListener("error", () => {
    lost = true;
    conn.textContent = document.body.dataset.reconnecting;
    conn.hidden = false;
  });
  es.addEventListener("strip", (e) => {
    const d = JSON.parse(e.data);
    for (const [k, v] of Object.entries(d)) {
      const el = document.querySelector('[data-stat="' + k + '"]');
      if (el) el.textContent = String(v);
    }
  });
  es.addEventListener("changed", (e) => {
    const d = JSON.parse(e.data);
    for (const id of d.chats || []) {
      for (const el of document.querySelectorAll('.chat[data-chat="' + String(id) + '"]')) refreshChat(el);
    }
    for (const part of d.parts || []) refreshPart(part);
  });
}

document.addEventListener("click", async (e) => {
  const t = e.target.closest("button, a");
  if (!t) return;
  const chatEl = t.closest(".chat");
  const chat = chatEl ? Number(chatEl.dataset.chat) : 0;
  if (t.dataset.press !== undefined) {
    const msg = Number(t.closest("[data-msg]").dataset.msg);
    t.classList.add("pressed");
    const res = await post("/api/press", {chat, message: msg, data: t.dataset.press});
    if (!res.ok) showStatus(document.querySelector('[data-status="' + chatEl.id + '"]'), res);
  } else if (t.dataset.act === "block" || t.dataset.act === "restart") {
    const res = await post("/api/" + t.dataset.act, {chat});
    if (!res.ok) showStatus(document.querySelector('[data-status="' + chatEl.id + '"]'), res);
    refreshChat(chatEl);
  } else if (t.dataset.reader) {
    selectReader(t.dataset.reader);
  } else if (t.dataset.act === "correct") {
    const f = document.getElementById("correct");
    f.elements.namedItem("file").value = t.dataset.file;
    f.elements.namedItem("title").value = t.dataset.title;
    f.elements.namedItem("lead").value = t.dataset.lead;
    f.hidden = false;
    f.elements.namedItem("title").focus();
  } else if (t.dataset.act === "retract") {
    const res = await post("/api/retract", {file: t.dataset.file});
    showStatus(document.getElementById("story-status"), res);
  }
});

for (const form of document.querySelectorAll("form.say")) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const target = document.getElementById(form.dataset.target);
    const text = form.elements.namedItem("text").value;
    if (!text.trim() || !target.dataset.chat || target.dataset.chat === "0") return;
    const res = await post("/api/say", {chat: Number(target.dataset.chat), text});
    const status = document.querySelector('[data-status="' + form.dataset.target + '"]');
    if (res.ok) {
      form.elements.namedItem("text").value = "";
      status.replaceChildren();
    } else {
      showStatus(status, res);
    }
  });
}

document.getElementById("add-reader").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const res = await post("/api/reader", {name: f.elements.namedItem("name").value, lang: f.elements.namedItem("lang").value});
  if (res.ok) {
    f.elements.namedItem("name").value = "";
    await refreshPart("readers");
    selectReader(res.id);
  } else {
    showStatus(document.querySelector('[data-status="reader-chat"]'), res);
  }
});

document.getElementById("new-story").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const res = await post("/api/story", {
    title: f.elements.namedItem("title").value,
    lead: f.elements.namedItem("lead").value,
    lang: f.elements.namedItem("lang").value,
    topics: Array.from(f.querySelectorAll('input[name="topics"]:checked'), (i) => i.value),
    image_url: f.elements.namedItem("image_url").value,
    breaking: f.elements.namedItem("breaking").checked,
  });
  showStatus(document.getElementById("story-status"), res);
  if (res.ok) f.reset();
});

document.getElementById("correct").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const res = await post("/api/correct", {file: f.elements.namedItem("file").value, title: f.elements.namedItem("title").value, lead: f.elements.namedItem("lead").value});
  showStatus(document.getElementById("story-status"), res);
  if (res.ok) f.hidden = true;
});

// A photo the browser cannot load shows as missing, as in the app.
document.addEventListener("error", (e) => {
  if (e.target.tagName === "IMG") {
    const photo = e.target.closest(".photo");
    if (photo) photo.classList.add("broken");
  }
}, true);

// The language links keep the reader shown.
for (const a of document.querySelectorAll("[data-lang-link]")) {
  a.addEventListener("click", () => {
    a.href = "/?lang=" + a.dataset.langLink + "&reader=" + encodeURIComponent(readerChat().dataset.chat);
  });
}

const saved = localStorage.getItem("pg_reader");
if (saved && saved !== readerChat().dataset.chat && document.querySelector('[data-reader="' + saved + '"]')) {
  selectReader(saved);
}
for (const el of document.querySelectorAll(".chat")) scrollDown(el);
connect();
