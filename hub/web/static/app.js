// Plugin Hub dashboard: the few live parts, in plain JavaScript (no build step).
// Everything works without it except what has to change without a reload.
"use strict";

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

function copyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = source.value !== undefined ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });
}

// Forms that end something (delete, revoke, rotate) ask first.
function confirmations() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

// A textarea holding JSON: invalid JSON is reported inline and blocks the form.
function jsonEditors() {
  document.querySelectorAll("textarea[data-json]").forEach((area) => {
    const report = document.getElementById(area.id + "-error");
    const check = () => {
      let message = "";
      const text = area.value.trim();
      if (text) {
        try {
          const value = JSON.parse(text);
          if (area.dataset.json === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) {
            message = "Must be a JSON object, like {\"key\": \"value\"}.";
          }
        } catch (error) {
          message = "Invalid JSON: " + error.message;
        }
      }
      area.setCustomValidity(message);
      area.classList.toggle("invalid", Boolean(message));
      area.setAttribute("aria-invalid", message ? "true" : "false");
      if (report) report.textContent = message;
    };
    area.addEventListener("input", check);
    check();
  });
}

function setLight(element, live) {
  element.classList.toggle("live", live);
  element.classList.toggle("offline", !live);
  element.textContent = live ? "Live" : "Offline";
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

// Live lights and process tables follow /events/plugins (server-sent events).
function liveLights() {
  const lights = document.querySelectorAll("[data-live-plugin]");
  const tables = document.querySelectorAll("[data-live-processes]");
  if (!lights.length && !tables.length) return;
  const source = new EventSource("/events/plugins");
  source.addEventListener("live", (event) => {
    const plugins = JSON.parse(event.data).plugins;
    lights.forEach((light) => setLight(light, Boolean(plugins[light.dataset.livePlugin])));
    tables.forEach((body) => {
      const processes = plugins[body.dataset.liveProcesses] || [];
      body.replaceChildren(...processes.map((p) => {
        const tr = document.createElement("tr");
        tr.append(cell(p.plugin_version || "—"), cell(p.hostname + " (pid " + p.pid + ")"),
          cell(String(p.capacity)), cell(String(p.running)), cell(p.sdk_version));
        return tr;
      }));
      const empty = document.querySelector("[data-no-processes='" + body.dataset.liveProcesses + "']");
      if (empty) empty.hidden = processes.length > 0;
    });
  });
}

function showWhen(root, selector, visible) {
  root.querySelectorAll(selector).forEach((el) => { el.hidden = !visible; });
}

function renderJob(root, job) {
  const set = (selector, text) => root.querySelectorAll(selector).forEach((el) => { el.textContent = text; });
  root.querySelectorAll("[data-job-status]").forEach((el) => {
    el.textContent = job.status;
    el.className = "badge status-" + job.status;
  });
  const progress = job.progress;
  const percent = progress && progress.percent !== null ? progress.percent
    : (job.status === "succeeded" ? 100 : 0);
  root.querySelectorAll("[data-job-progress]").forEach((bar) => {
    bar.firstElementChild.style.width = percent + "%";
    bar.setAttribute("aria-valuenow", String(percent));
  });
  set("[data-job-percent]", percent + "%");
  set("[data-job-message]", progress && progress.message ? progress.message : "");
  set("[data-job-attempts]", String(job.attempts));
  const error = job.error ? (job.error.message || JSON.stringify(job.error)) : "";
  set("[data-job-error]", error);
  showWhen(root, "[data-job-error-box]", Boolean(error));
  const done = TERMINAL.has(job.status);
  showWhen(root, "[data-when-active]", !done);
  showWhen(root, "[data-when-done]", done);
  const artifact = job.status === "succeeded" && job.result && job.result.artifact;
  showWhen(root, "[data-when-artifact]", Boolean(artifact));
  if (job.result) set("[data-job-result]", JSON.stringify(job.result, null, 2));
  showWhen(root, "[data-job-result-box]", Boolean(job.result));
}

function appendLogs(root, records) {
  root.querySelectorAll("[data-job-logs]").forEach((pre) => {
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    for (const r of records) {
      const line = document.createElement("div");
      line.className = "lvl-" + r.level;
      line.textContent = r.time.slice(11, 23) + " " + r.level.padEnd(7) + " " + r.message;
      pre.append(line);
    }
    if (stick) pre.scrollTop = pre.scrollHeight;
    const empty = root.querySelector("[data-no-logs]");
    if (empty && pre.childElementCount) empty.hidden = true;
  });
}

// A job page follows /jobs/{id}/events: status and progress, then new log records.
function jobStreams() {
  document.querySelectorAll("[data-job-stream]").forEach((root) => {
    const source = new EventSource(root.dataset.jobStream);
    source.addEventListener("job", (event) => renderJob(root, JSON.parse(event.data)));
    source.addEventListener("logs", (event) => appendLogs(root, JSON.parse(event.data)));
    source.addEventListener("end", () => source.close());
  });
}

// Job lists: the rows of unfinished jobs follow /jobs/events (status and progress).
function jobLists() {
  const rows = [...document.querySelectorAll("[data-job-row]")]
    .filter((row) => !TERMINAL.has(row.dataset.status));
  if (!rows.length) return;
  const byId = new Map(rows.map((row) => [row.dataset.jobRow, row]));
  const source = new EventSource("/jobs/events?ids=" + [...byId.keys()].join(","));
  source.addEventListener("jobs", (event) => {
    for (const [id, state] of Object.entries(JSON.parse(event.data))) {
      const row = byId.get(id);
      if (!row) continue;
      row.dataset.status = state.status;
      const badge = row.querySelector("[data-row-status]");
      badge.textContent = state.status;
      badge.className = "badge status-" + state.status;
      const progress = row.querySelector("[data-row-progress]");
      if (progress) {
        const percent = state.percent !== null ? state.percent : (state.status === "succeeded" ? 100 : null);
        progress.textContent = percent === null ? "" : Math.round(percent) + "%";
      }
    }
  });
  source.addEventListener("end", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  jobLists();
  confirmations();
  copyButtons();
  jsonEditors();
  liveLights();
  jobStreams();
});
