// ticker's live page: plain JavaScript, no build step, no third-party code.
// Page text is data: every string from the server goes into the DOM with textContent, never
// as HTML, and links are kept only when they are http(s).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  oldest: null, more: true, loading: false, events: null, sources: new Map(),
  generation: 0, opened: false, retry: null,
  stories: new Map(), // story id -> its lines, first reporter first (one card per story)
};

function filters() {
  const p = new URLSearchParams(location.search);
  return {
    source: p.get("source") || "",
    tag: p.get("tag") || "",
    q: p.get("q") || "",
    baseline: p.get("baseline") === "1",
  };
}

function query(f, extra = {}) {
  const p = new URLSearchParams();
  if (f.source) p.set("source", f.source);
  if (f.tag) p.set("tag", f.tag);
  if (f.q) p.set("q", f.q);
  if (f.baseline) p.set("baseline", "1");
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p.toString();
}

function safeLink(href) {
  try {
    const url = new URL(href, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// Times read as alerts do: UTC, plus the viewer's local time when that differs (and the local
// date when it is another day there). The day is left out for today's lines.
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";

function utcParts(date) {
  const iso = date.toISOString();
  return { day: iso.slice(0, 10), time: iso.slice(11, 16) };
}

function whenText(date, now = new Date()) {
  const utc = utcParts(date);
  let text = (utc.day === utcParts(now).day ? "" : utc.day + " ") + utc.time + " UTC";
  if (date.getTimezoneOffset() !== 0) {
    const sameDay = date.getDate() === date.getUTCDate();
    const local = date.toLocaleString([], sameDay
      ? { hour: "numeric", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
    text += " (" + local + " " + LOCAL_ZONE + ")";
  }
  return text;
}

function render(item, fresh) {
  const node = $("item-template").content.firstElementChild.cloneNode(true);
  node.dataset.id = String(item.id);
  node.querySelector(".source").textContent = item.source_name;
  node.querySelector(".tags").textContent = item.tags.length ? "#" + item.tags.join(" #") : "";
  const mark = { update: "update", return: "again", baseline: "at first poll" }[item.kind] || "";
  node.querySelector(".mark").textContent = mark;
  const time = node.querySelector("time");
  const when = new Date(item.first_seen);
  time.dateTime = item.first_seen;
  time.textContent = whenText(when);
  time.title = item.first_seen.replace("T", " ").replace("Z", " UTC");
  node.querySelector(".text").textContent = item.text;
  if (item.update_of) {
    const was = node.querySelector(".was");
    was.textContent = item.update_of;
    was.hidden = false;
  }
  const href = item.link && safeLink(item.link);
  if (href) {
    const a = node.querySelector(".link");
    a.href = href;
    a.hidden = false;
  }
  if (fresh) node.classList.add("fresh");
  return node;
}

// One card per story: the first reporter's line, and every outlet that reported it with how
// long after the first ("+42s"). A line of a story already on the page updates its card.
function lagText(seconds) {
  if (seconds < 90) return "+" + Math.round(seconds) + "s";
  if (seconds < 5400) return "+" + Math.round(seconds / 60) + "m";
  return "+" + Math.round(seconds / 3600) + "h";
}

function place(item, fresh, where) {
  const list = $("items");
  if (item.story == null) {
    if (list.querySelector(`[data-id="${item.id}"]`)) return;
    if (where === "top") list.prepend(render(item, fresh));
    else list.append(render(item, fresh));
    return;
  }
  const lines = state.stories.get(item.story) || [];
  if (lines.some((l) => l.id === item.id)) return;
  lines.push(item);
  lines.sort((a, b) => (a.first_seen < b.first_seen ? -1 : a.first_seen > b.first_seen ? 1 : a.id - b.id));
  state.stories.set(item.story, lines);
  const node = render(lines[0], fresh);
  node.dataset.story = String(item.story);
  const sources = [];
  for (const l of lines) if (!sources.some((s) => s.source === l.source)) sources.push(l);
  if (sources.length > 1) {
    const outlets = node.querySelector(".outlets");
    const start = new Date(lines[0].first_seen).getTime();
    for (const l of sources) {
      const li = document.createElement("li");
      li.dataset.source = l.source;
      const lag = (new Date(l.first_seen).getTime() - start) / 1000;
      li.textContent = l === sources[0] ? l.source_name + " first" : l.source_name + " " + lagText(lag);
      li.title = l.text;
      outlets.append(li);
    }
    outlets.hidden = false;
  }
  const old = list.querySelector(`[data-story="${item.story}"]`);
  if (old) {
    if (where === "top") { old.remove(); list.prepend(node); }
    else old.replaceWith(node);
  } else if (where === "top") list.prepend(node);
  else list.append(node);
}

async function loadPage(reset) {
  // A reset (new filters, a reconnect) always runs; an answer for older filters is dropped.
  if (reset) state.generation += 1;
  else if (state.loading || !state.more) return;
  const generation = state.generation;
  state.loading = true;
  if (reset) {
    $("loading").hidden = false;
    $("empty").hidden = true;
  }
  const f = filters();
  const extra = { limit: "50" };
  if (!reset && state.oldest !== null) extra.before = String(state.oldest);
  try {
    const resp = await fetch("/api/items?" + query(f, extra));
    const body = await resp.json();
    if (generation !== state.generation) return;
    if (!resp.ok) throw new Error(body.error || resp.statusText);
    $("filter-error").hidden = true;
    const list = $("items");
    if (reset) {
      list.replaceChildren();
      state.stories.clear();
    }
    for (const item of body.items) place(item, false, "bottom");
    // A search pages on from where the server stopped looking (next_before), which may be
    // past the last item it found.
    if (body.next_before != null) state.oldest = body.next_before;
    else if (body.items.length) state.oldest = body.items[body.items.length - 1].id;
    state.more = body.more;
    $("empty").hidden = list.children.length > 0;
  } catch (err) {
    $("filter-error").textContent = String(err.message || err);
    $("filter-error").hidden = false;
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      $("loading").hidden = true;
    }
  }
}

function connect() {
  if (state.events) state.events.close();
  clearTimeout(state.retry);
  const es = new EventSource("/events?" + query(filters()));
  state.events = es;
  es.onopen = () => {
    $("live-dot").classList.add("on");
    // Lines may have broken while the stream was down: reload the list on every reconnect.
    if (state.opened) loadPage(true);
    state.opened = true;
  };
  es.onerror = () => {
    $("live-dot").classList.remove("on");
    // The browser retries by itself, except after an HTTP error (a 503 when the server has too
    // many clients, a 502 from a proxy): then try again ourselves, a little later.
    if (es.readyState === EventSource.CLOSED) state.retry = setTimeout(connect, 10000);
  };
  es.addEventListener("item", (e) => {
    place(JSON.parse(e.data), true, "top");
    $("empty").hidden = true;
  });
  es.addEventListener("source", (e) => {
    const s = JSON.parse(e.data);
    state.sources.set(s.id, s);
    renderSources();
  });
}

function renderCounts() {
  // The one line a phone shows of the sources' health: how many are in each state.
  const counts = new Map();
  for (const s of state.sources.values()) counts.set(s.state, (counts.get(s.state) || 0) + 1);
  const rank = (name) => (["broken", "failing", "quiet", "ok"].indexOf(name) + 5) % 5;
  const badges = [];
  for (const name of [...counts.keys()].sort((x, y) => rank(x) - rank(y))) {
    const badge = document.createElement("span");
    badge.className = "state " + name;
    badge.textContent = counts.get(name) + " " + (name === "broken" ? "broken layout" : name);
    badges.push(badge);
  }
  $("side-counts").replaceChildren(...badges);
}

function renderSources() {
  renderCounts();
  const ul = $("sources");
  ul.replaceChildren();
  for (const s of state.sources.values()) {
    const li = document.createElement("li");
    const name = document.createElement("div");
    name.className = "name";
    const label = document.createElement("span");
    label.textContent = s.name;
    label.dir = "auto";
    const badge = document.createElement("span");
    badge.className = "state " + s.state;
    badge.textContent = { ok: "ok", failing: "failing", broken: "broken layout", quiet: "quiet" }[s.state] || s.state;
    name.append(label, badge);
    const poll = document.createElement("div");
    poll.className = "poll";
    poll.textContent = s.last_poll ? "last poll " + whenText(new Date(s.last_poll)) : "not polled yet";
    li.append(name, poll);
    if (s.last_error) {
      const err = document.createElement("div");
      err.className = "err";
      err.textContent = s.last_error;
      li.append(err);
    }
    ul.append(li);
  }
}

async function loadSources() {
  const resp = await fetch("/api/sources");
  const body = await resp.json();
  const f = filters();
  const fill = (select, values, current) => {
    for (const [value, text] of values) {
      const opt = document.createElement("option");
      opt.value = value;
      opt.textContent = text;
      opt.selected = value === current;
      select.append(opt);
    }
  };
  fill($("f-source"), body.sources.map((s) => [s.id, s.name]), f.source);
  fill($("f-tag"), body.tags.map((t) => [t, t]), f.tag);
  for (const s of body.sources) state.sources.set(s.id, s);
  renderSources();
}

function showFilterCount() {
  // Folded on a phone, the button says how many of the filters behind it are in use.
  const n = [$("f-source").value, $("f-tag").value, $("f-baseline").checked].filter(Boolean).length;
  $("f-toggle").textContent = n ? "Filters (" + n + ")" : "Filters";
}

function applyFilters() {
  const f = {
    source: $("f-source").value,
    tag: $("f-tag").value,
    q: $("f-q").value.trim(),
    baseline: $("f-baseline").checked,
  };
  // The URL holds the filters: a filtered view can be bookmarked or shared.
  const qs = query(f);
  history.replaceState(null, "", qs ? "?" + qs : location.pathname);
  showFilterCount();
  state.oldest = null;
  state.more = true;
  state.opened = false;
  loadPage(true);
  connect();
}

function init() {
  const f = filters();
  $("f-q").value = f.q;
  $("f-baseline").checked = f.baseline;
  let timer = null;
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("f-source").addEventListener("change", applyFilters);
  $("f-tag").addEventListener("change", applyFilters);
  $("f-baseline").addEventListener("change", applyFilters);
  $("f-q").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(applyFilters, 300);
  });
  $("f-toggle").addEventListener("click", () => {
    const open = $("f-toggle").getAttribute("aria-expanded") !== "true";
    $("f-toggle").setAttribute("aria-expanded", String(open));
    document.querySelector(".top").classList.toggle("open", open);
  });
  // Wide screens always show the side column; a phone starts with it folded to its summary.
  const narrow = window.matchMedia("(max-width: 800px)");
  const fold = () => { $("side").open = !narrow.matches; };
  fold();
  narrow.addEventListener("change", fold);
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage(false);
  }).observe($("more"));
  loadSources()
    .then(showFilterCount)
    .catch((err) => {
      $("filter-error").textContent = String(err.message || err);
      $("filter-error").hidden = false;
    })
    .finally(() => loadPage(true));
  connect();
  setInterval(() => {
    $("timeline").src = "/timeline.svg?t=" + Date.now();
  }, 60000);
}

document.addEventListener("DOMContentLoaded", init);
