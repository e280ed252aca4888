// The reviewers' page: talks to /v1/rules with the bearer token kept in sessionStorage.
// Every text from the server goes in with textContent (never innerHTML), so `<script>` shows as text.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null; // the rule being edited, as the API returned it

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function show(id, message) {
  const box = $(id);
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + (sessionStorage.getItem("token") || "") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const message = data && data.error ? data.error.message : "HTTP " + resp.status;
    throw new Error(message);
  }
  return data;
}

async function guarded(fn) {
  show("error", "");
  try {
    await fn();
  } catch (err) {
    show("error", err.message);
  }
}

// ------------------------------------------------------------------ sign in

async function signIn(event) {
  if (event) event.preventDefault();
  const typed = $("token").value.trim();
  if (typed) sessionStorage.setItem("token", typed);
  await guarded(async () => {
    const me = await api("GET", "/v1/rules/whoami");
    $("who").textContent = me.name + "（" + me.role + "）";
    $("publish-section").hidden = !me.may_publish;
    $("app").hidden = false;
    await Promise.all([search(), history()]);
  });
}

// ------------------------------------------------------------------ search and edit

async function search(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const name of ["q", "label", "category"]) if ($(name).value) params.set(name, $(name).value);
  const data = await api("GET", "/v1/rules?" + params.toString());
  $("draft-state").textContent =
    "已发布版本 v" + data.published_version + (data.unpublished_changes ? "，草稿有未发布的修改" : "");
  const body = $("rules").querySelector("tbody");
  body.replaceChildren();
  for (const rule of data.rules) {
    const row = el("tr", undefined, "rule");
    row.dataset.id = rule.id;
    row.append(el("td", rule.id), el("td", rule.label), el("td", rule.category),
      el("td", rule.terms.slice(0, 8).join("、") + (rule.terms.length > 8 ? " …" : "")));
    row.addEventListener("click", () => guarded(() => edit(rule.id)));
    body.append(row);
  }
}

async function edit(id) {
  current = await api("GET", "/v1/rules/" + encodeURIComponent(id));
  $("edit-id").textContent = current.id;
  $("edit-terms").value = current.terms.join("\n");
  $("edit-exceptions").value = current.exceptions.join("\n");
  $("edit-reminder").value = current.reminder;
  $("edit-suggestion").value = current.suggestion;
  $("edit-reason").value = "";
  $("editor").hidden = false;
}

const lines = (id) => $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);

async function save(event) {
  event.preventDefault();
  await guarded(async () => {
    const rule = Object.assign({}, current, {
      terms: lines("edit-terms"),
      exceptions: lines("edit-exceptions"),
      reminder: $("edit-reminder").value.trim(),
      suggestion: $("edit-suggestion").value.trim(),
    });
    const reason = encodeURIComponent($("edit-reason").value.trim());
    current = await api("PUT", "/v1/rules/" + encodeURIComponent(rule.id) + "?reason=" + reason, rule);
    show("notice", "已保存到草稿：" + current.id);
    await search();
    await trySentence();
  });
}

// ------------------------------------------------------------------ try a sentence

let tryTimer = null;
let tryCounter = 0;

function highlighted(text, hits) {
  const out = el("p", undefined, "highlighted");
  const spans = hits.slice().sort((a, b) => a.start - b.start);
  let at = 0;
  for (const hit of spans) {
    if (hit.start < at) continue; // overlapping hits: the first one is shown
    out.append(document.createTextNode(text.slice(at, hit.start)));
    const mark = el("mark", text.slice(hit.start, hit.end), hit.label);
    mark.title = hit.rule + " · " + hit.category;
    out.append(mark);
    at = hit.end;
  }
  out.append(document.createTextNode(text.slice(at)));
  return out;
}

async function trySentence() {
  const text = $("try-text").value;
  const box = $("try-result");
  if (!text.trim()) {
    box.replaceChildren();
    return;
  }
  const mine = ++tryCounter;
  try {
    const result = await api("POST", "/v1/rules/try", { text, category: $("try-category").value });
    if (mine !== tryCounter) return; // a newer keystroke already asked
    const summary = el("p", "结果：" + result.action + (result.labels.length ? "（" + result.labels.join("、") + "）" : ""));
    const rules = el("ul");
    for (const hit of result.hits) rules.append(el("li", hit.text + " → " + hit.rule));
    box.replaceChildren(highlighted(text, result.hits), summary, rules);
  } catch (err) {
    if (mine === tryCounter) box.replaceChildren(el("p", err.message, "error"));
  }
}

function tryLater() {
  clearTimeout(tryTimer);
  tryTimer = setTimeout(trySentence, 150);
}

// ------------------------------------------------------------------ dry-run, publish, history

function hitList(title, items, cls) {
  const wrap = el("div");
  wrap.append(el("h3", title + "（" + items.length + "）"));
  const list = el("ul", undefined, cls);
  for (const item of items) {
    const li = el("li");
    const detail = item.hit ? "「" + item.hit.text + "」 " + item.hit.rule : item.before + " → " + item.after;
    li.append(el("span", item.sentence), el("span", "　" + detail, cls));
    list.append(li);
  }
  wrap.append(list);
  return wrap;
}

async function dryRun() {
  await guarded(async () => {
    const report = await api("POST", "/v1/rules/dry-run", {});
    $("dryrun-result").replaceChildren(
      el("p", "共 " + report.sentences + " 句：已发布 " + report.published + " vs 草稿 " + report.draft),
      hitList("新增命中", report.new_hits, "added"),
      hitList("不再命中", report.lost_hits, "lost"),
      hitList("处置变化", report.changed_actions, "changed"),
    );
  });
}

async function publish(event) {
  event.preventDefault();
  await guarded(async () => {
    const result = await api("POST", "/v1/rules/publish", { message: $("publish-message").value.trim() });
    show("notice", "已发布版本 v" + result.version);
    $("publish-message").value = "";
    await Promise.all([search(), history()]);
  });
}

async function rollback(version) {
  if (!window.confirm("回滚到 v" + version + "？这会发布一个新版本。")) return;
  await guarded(async () => {
    const result = await api("POST", "/v1/rules/rollback/" + version, { message: "" });
    show("notice", "已回滚：新版本 v" + result.version + " = v" + version);
    await Promise.all([search(), history()]);
  });
}

async function history() {
  const [data, audit] = await Promise.all([api("GET", "/v1/rules/versions"), api("GET", "/v1/rules/audit?limit=50")]);
  const body = $("versions").querySelector("tbody");
  body.replaceChildren();
  for (const v of data.versions) {
    const row = el("tr");
    const action = el("td");
    if (!$("publish-section").hidden && v.version !== data.versions[0].version) {
      const button = el("button", "回滚到此版本");
      button.addEventListener("click", () => rollback(v.version));
      action.append(button);
    }
    const live = v.version === data.live_version ? "（生效中）" : "";
    row.append(el("td", "v" + v.version + live), el("td", v.created_at.replace("T", " ").slice(0, 19)),
      el("td", v.author), el("td", v.message), action);
    body.append(row);
  }
  const list = $("audit");
  list.replaceChildren();
  for (const entry of audit.entries) {
    const li = el("li");
    const what = entry.rule_id || (entry.version ? "v" + entry.version : "");
    li.append(el("div", entry.at.replace("T", " ").slice(0, 19) + " " + entry.actor + " " + entry.action + " " + what +
      (entry.reason ? "：" + entry.reason : "")));
    li.append(el("pre", JSON.stringify(entry.diff, null, 1)));
    list.append(li);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", signIn);
  $("search").addEventListener("submit", (e) => guarded(() => search(e)));
  $("edit").addEventListener("submit", save);
  $("try-text").addEventListener("input", tryLater);
  $("try-category").addEventListener("change", tryLater);
  $("dryrun").addEventListener("click", dryRun);
  $("publish").addEventListener("submit", publish);
  $("history-refresh").addEventListener("click", () => guarded(history));
  if (sessionStorage.getItem("token")) signIn();
});
