// The run form's live parts: presets fill the config editor, a project change redraws the
// form, a markdown run uploads its CSV and previews the first row, a file explorer browses
// folders through `list` jobs. Without this script the form still submits; only these go.
"use strict";

// app.css gives buttons and `.stack` their own display, which beats the `hidden` attribute.
function show(element, visible) {
  element.hidden = !visible;
  element.style.display = visible ? "" : "none";
}

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
  return readAnswer(response);
}

async function readAnswer(response) {
  let data = {};
  try {
    data = await response.json();
  } catch (_) {
    data = { error: "The hub answered " + response.status + "; reload the page and try again." };
  }
  return { ok: response.ok, data };
}

// The config editor's JSON, or null (app.js already shows why it is invalid).
function currentConfig(form) {
  const text = form.querySelector("#config").value.trim();
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch (_) {
    return null;
  }
}

function readJSON(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

function presetPicker(form) {
  const picker = document.querySelector("[data-preset-picker]");
  if (!picker) return;
  const presets = readJSON("preset-configs") || {};
  const defaults = readJSON("default-config") || {};
  picker.addEventListener("change", () => {
    const name = picker.value;
    const editor = form.querySelector("#config");
    editor.value = JSON.stringify(name ? presets[name] : defaults, null, 2);
    editor.dispatchEvent(new Event("input")); // app.js re-checks the JSON
    form.querySelector("[data-preset-field]").value = name;
    form.querySelector("[data-preset-name]").value = name;
  });
}

function projectReload(form) {
  const select = form.querySelector("[data-project-select]");
  const reload = form.querySelector("[data-project-reload]");
  if (select && reload) select.addEventListener("change", () => form.requestSubmit(reload));
}

// --- markdown: CSV upload and a preview of the first row ----------------------------------

function markdownRun(form, pluginId) {
  const template = form.querySelector("[data-template]");
  if (!template) return;
  const fileInput = form.querySelector("[data-csv-input]");
  const fileId = form.querySelector("[data-csv-file-id]");
  const status = form.querySelector("[data-csv-status]");
  const preview = form.querySelector("[data-preview]");
  const note = form.querySelector("[data-preview-note]");
  let asked = 0;
  let timer = null;

  async function refresh() {
    const mine = ++asked;
    const { ok, data } = await postJSON("/plugins/" + pluginId + "/run/preview", {
      template: template.value,
      csv_file_id: fileId.value || null,
    });
    if (mine !== asked) return; // a later edit already asked again
    if (!ok) {
      preview.replaceChildren();
      note.textContent = data.error || "No preview.";
      return;
    }
    preview.innerHTML = data.html; // sanitized by the hub (nh3), like every markdown it shows
    const parts = [];
    if (!fileId.value) parts.push("Upload a CSV to see its first row filled in.");
    else parts.push("Columns: " + (data.columns.join(", ") || "none") + ".");
    if (data.missing.length) parts.push("Not in the CSV: " + data.missing.join(", ") + ".");
    note.textContent = parts.join(" ");
  }

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  template.addEventListener("input", later);

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) return;
    status.textContent = "Uploading " + file.name + "…";
    const response = await fetch(
      "/plugins/" + pluginId + "/run/csv?filename=" + encodeURIComponent(file.name),
      {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken(), "Content-Type": file.type || "text/csv" },
        body: file,
      },
    );
    const { ok, data } = await readAnswer(response);
    if (!ok) {
      status.textContent = "Upload failed: " + (data.error || response.status);
      return;
    }
    fileId.value = data.id;
    fileInput.value = ""; // uploaded once: the form sends only its id
    status.textContent = "Using " + data.filename + " (" + data.size + " bytes); choose another file to replace it.";
    refresh();
  });

  refresh();
}

// --- file explorer: browse with `list` jobs, then import what is picked ---------------------

const LIST_DEADLINE_MS = 20000;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function humanSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return (unit ? size.toFixed(1) : String(size)) + " " + units[unit];
}

function cellWith(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

// Poll a job until it ends; null if it did not end before the deadline.
async function waitForJob(stateUrl, stillWanted) {
  const started = Date.now();
  let delay = 40;
  while (Date.now() - started < LIST_DEADLINE_MS) {
    await sleep(delay);
    if (!stillWanted()) return null;
    const response = await fetch(stateUrl, { credentials: "same-origin" });
    const { ok, data } = await readAnswer(response);
    if (!ok) return { status: "failed", error: { message: data.error } };
    if (data.terminal) return data;
    delay = Math.min(delay * 2, 500);
  }
  return null;
}

function messageRow(text) {
  const td = cellWith(text);
  td.colSpan = 4;
  td.className = "muted";
  const tr = document.createElement("tr");
  tr.append(td);
  return tr;
}

function fileExplorer(form, pluginId) {
  const root = form.querySelector("[data-explorer]");
  if (!root) return;
  show(root, true);
  const $ = (selector) => root.querySelector(selector);
  const status = $("[data-explore-status]");
  const entries = $("[data-explore-entries]");
  const folderField = form.querySelector("[data-explore-folder]");
  const filesField = form.querySelector("[data-explore-files]");
  const submit = form.querySelector("[data-run-submit]");
  const selected = new Set(JSON.parse(filesField.value || "[]"));
  const parents = []; // folders above the current one, as they were listed: keys are the plugin's
  let folder = folderField.value;
  let pageToken = null;
  let asked = 0;

  function showSelection() {
    filesField.value = JSON.stringify([...selected]);
    const count = selected.size;
    $("[data-explore-selected]").textContent = count ? count + " file" + (count === 1 ? "" : "s") + " picked" : "";
    show($("[data-explore-clear]"), count > 0);
    submit.textContent = count ? "Import " + count + " picked file" + (count === 1 ? "" : "s") : "Import the folder";
  }

  function draw(listing) {
    const rows = [];
    for (const entry of listing.folders) {
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link";
      open.textContent = entry.name + "/";
      open.addEventListener("click", () => list(entry.key, null, "down"));
      const tr = document.createElement("tr");
      tr.append(cellWith(), cellWith(open), cellWith(), cellWith());
      tr.children[2].className = tr.children[3].className = "hide-phone";
      rows.push(tr);
    }
    for (const entry of listing.files) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = selected.has(entry.key);
      box.setAttribute("aria-label", "Pick " + entry.name);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(entry.key);
        else selected.delete(entry.key);
        showSelection();
      });
      const tr = document.createElement("tr");
      tr.append(cellWith(box), cellWith(entry.name), cellWith(humanSize(entry.size)),
        cellWith(entry.modified || ""));
      tr.children[2].className = tr.children[3].className = "hide-phone muted small";
      rows.push(tr);
    }
    if (!rows.length) rows.push(messageRow("This folder is empty."));
    entries.replaceChildren(...rows);
    show($("[data-explore-next]"), Boolean(listing.next_page_token));
    $("[data-explore-next]").onclick = () => list(folder, listing.next_page_token);
    show($("[data-explore-first]"), pageToken !== null);
    status.textContent = "";
  }

  // `move` is "down" into a subfolder, "up" to the parent, or nothing for the same level.
  async function list(target, token, move) {
    const mine = ++asked;
    const config = currentConfig(form);
    const project = form.querySelector("#project_id").value;
    if (config === null) {
      status.textContent = "Fix the config first: the plugin lists with it.";
      return;
    }
    if (!project) {
      status.textContent = "Choose a project first.";
      return;
    }
    if (move === "down") parents.push(folder);
    if (move === "up") parents.pop();
    folder = target;
    pageToken = token;
    folderField.value = folder;
    $("[data-explore-path]").textContent = folder || "/";
    $("[data-explore-up]").disabled = !parents.length;
    status.textContent = "Asking the plugin…";
    entries.replaceChildren(messageRow("Loading…"));
    show($("[data-explore-next]"), false);
    show($("[data-explore-first]"), false);
    const { ok, data } = await postJSON("/plugins/" + pluginId + "/explore", {
      project_id: project, config, folder, page_token: token,
    });
    if (mine !== asked) return;
    if (!ok) {
      status.textContent = data.error;
      entries.replaceChildren();
      return;
    }
    const job = await waitForJob(data.state_url, () => mine === asked);
    if (mine !== asked) return;
    if (job === null) {
      status.textContent = "The plugin did not answer within " + LIST_DEADLINE_MS / 1000 + " s: is it running? The listing was cancelled.";
      fetch("/jobs/" + data.job_id + "/cancel", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
      });
      return;
    }
    if (job.status !== "succeeded") {
      status.textContent = "The listing " + job.status + (job.error && job.error.message ? ": " + job.error.message : ".");
      return;
    }
    draw(job.result);
  }

  $("[data-explore-list]").addEventListener("click", () => list(folderField.value, null));
  $("[data-explore-first]").addEventListener("click", () => list(folder, null));
  $("[data-explore-up]").addEventListener("click", () => list(parents[parents.length - 1], null, "up"));
  $("[data-explore-clear]").addEventListener("click", () => {
    selected.clear();
    entries.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = false; });
    showSelection();
  });
  showSelection();
  const light = document.querySelector("[data-live-plugin]");
  if (light && light.classList.contains("live")) list(folder, null);
  else status.textContent = "The plugin is offline: start it, then press \"List folder\".";
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-no-script]").forEach((element) => show(element, false));
  const form = document.getElementById("run-form");
  if (!form) return;
  const pluginId = form.dataset.pluginId;
  presetPicker(form);
  projectReload(form);
  markdownRun(form, pluginId);
  fileExplorer(form, pluginId);
});
