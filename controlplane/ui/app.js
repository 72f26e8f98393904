// The analyst dashboard: reads /v1/telemetry with the token the analyst enters (kept in
// this tab's sessionStorage only) and draws it. Text from the API is only ever set with
// textContent; events hold no raw values, and neither does anything drawn here.
"use strict";

(function () {
  const TOKEN_KEY = "meshveil.token";
  const BUCKETS = { 3600: 60, 21600: 300, 86400: 900, 604800: 10800, 2592000: 43200 };
  const $ = (id) => document.getElementById(id);
  let loadSerial = 0;

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  async function api(path, params) {
    const response = await fetch(path + "?" + params.toString(), {
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
    });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (ignored) {
        // Not problem JSON: keep the status text.
      }
      throw new ApiError(response.status, detail);
    }
    return response;
  }

  async function json(path, params) {
    return (await api(path, params)).json();
  }

  function status(message, isError) {
    const line = $("status");
    line.textContent = message;
    line.classList.toggle("error", Boolean(isError));
  }

  // The filter as query parameters; the range is aligned to whole buckets so bars line up.
  function currentFilter() {
    const rangeSeconds = Number($("range").value);
    const bucketSeconds = BUCKETS[rangeSeconds] || 3600;
    const bucketMs = bucketSeconds * 1000;
    const now = Date.now();
    const untilMs = Math.ceil((now + 1) / bucketMs) * bucketMs;
    const sinceMs = Math.floor((now - rangeSeconds * 1000) / bucketMs) * bucketMs;
    const params = new URLSearchParams();
    params.set("since", new Date(sinceMs).toISOString());
    params.set("until", new Date(untilMs).toISOString());
    if ($("service").value) params.set("service", $("service").value);
    if ($("type").value) params.append("type", $("type").value);
    return { params, sinceMs, untilMs, bucketSeconds };
  }

  function withParams(base, extra) {
    const params = new URLSearchParams(base);
    for (const [key, value] of Object.entries(extra)) {
      if (Array.isArray(value)) value.forEach((item) => params.append(key, item));
      else params.set(key, String(value));
    }
    return params;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "–" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function fillTable(id, items, columns) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    for (const item of items) {
      const row = document.createElement("tr");
      columns(row, item);
      body.appendChild(row);
    }
    if (!items.length) {
      const row = document.createElement("tr");
      const td = cell(row, "nothing in this range");
      td.colSpan = $(id).querySelectorAll("thead th").length;
      body.appendChild(row);
    }
  }

  function shortId(identity) {
    return identity ? identity.slice(0, 12) + "…" : "–";
  }

  function localTime(iso) {
    return new Date(iso).toLocaleString();
  }

  function reasonText(reason) {
    const number = (value) => (value === null || value === undefined ? "?" : Number(value).toFixed(value % 1 ? 1 : 0));
    if (reason.kind === "zscore") {
      return `${reason.feature} ${number(reason.value)} vs ${number(reason.baseline_mean)} ± ${number(reason.baseline_stddev)} (z ${number(reason.z)}, ${reason.baseline_scope} baseline)`;
    }
    if (reason.kind === "hour_of_day") {
      return `active at ${String(reason.value).padStart(2, "0")}:00 UTC, unusual for it (z ${number(reason.z)})`;
    }
    return `rule ${reason.rule}: ${reason.feature} ${number(reason.value)} over ${number(reason.threshold)}`;
  }

  async function loadServices(filter) {
    const picker = $("service");
    const chosen = picker.value;
    const params = withParams(filter.params, { by: "service" });
    params.delete("service");
    const services = await json("/v1/telemetry/values", params);
    picker.replaceChildren(new Option("every service", ""));
    for (const name of services) picker.appendChild(new Option(name, name));
    picker.value = services.includes(chosen) ? chosen : "";
  }

  async function load() {
    if (!token()) {
      status("Enter an analyst token to load telemetry.");
      return;
    }
    const serial = ++loadSerial;
    status("Loading…");
    let filter = currentFilter();
    try {
      await loadServices(filter);
      filter = currentFilter();
      const base = filter.params;
      const [summary, series, detectors, routes, flows, identities, events] = await Promise.all([
        json("/v1/telemetry/summary", base),
        json("/v1/telemetry/timeseries", withParams(base, { bucket_seconds: filter.bucketSeconds })),
        json("/v1/telemetry/top", withParams(base, { by: "detector", type: "finding", limit: 8 })),
        json("/v1/telemetry/top", withParams(base, { by: ["service", "route"], limit: 15 })),
        json("/v1/telemetry/flows", withParams(base, { limit: 40 })),
        json("/v1/telemetry/identities", withParams(base, { limit: 10 })),
        json("/v1/telemetry/events", withParams(base, { limit: 50 })),
      ]);
      if (serial !== loadSerial) return;
      render(filter, summary, series, detectors, routes, flows, identities, events);
      const scope = $("service").value ? `service ${$("service").value}` : "every service";
      status(`Showing ${scope}, ${$("range").selectedOptions[0].textContent}: ${events.events.length} latest events listed.`);
    } catch (error) {
      if (serial !== loadSerial) return;
      if (error instanceof ApiError && error.status === 401) status("The token is unknown or revoked: " + error.message, true);
      else if (error instanceof ApiError && error.status === 403) status("This token may not read telemetry: " + error.message, true);
      else status("Could not load telemetry: " + error.message, true);
    }
  }

  function render(filter, summary, series, detectors, routes, flows, identities, events) {
    $("total-findings").textContent = summary.findings;
    $("total-anomalies").textContent = summary.anomalies;
    $("total-blocked").textContent = summary.blocked;
    MeshveilCharts.timeline($("timeline"), series.buckets, filter);
    MeshveilCharts.bars($("by-detector"), detectors.entries.filter((e) => e.keys[0]), (e) => e.findings, (e) => e.keys[0]);
    fillTable("by-route", routes.entries, (row, entry) => {
      cell(row, entry.keys[0]);
      cell(row, entry.keys[1]);
      cell(row, entry.findings, "number");
      cell(row, entry.anomalies, "number");
      cell(row, entry.blocked, "number");
    });
    MeshveilCharts.flowMap($("flows"), flows);
    fillTable("identities", identities, (row, item) => {
      cell(row, item.value || shortId(item.identity), "mono").title = item.identity;
      cell(row, item.kind);
      cell(row, item.anomalies, "number");
      cell(row, Number(item.max_score).toFixed(1), "number");
      cell(row, item.services.join(", "));
      const reasons = cell(row, "");
      reasons.replaceChildren(
        ...item.reasons.map((reason) => {
          const line = document.createElement("span");
          line.className = "reason";
          line.textContent = reasonText(reason);
          return line;
        }),
      );
      row.addEventListener("click", () => showEvent(item.worst_event));
    });
    fillTable("events", events.events, (row, event) => {
      row.dataset.eventId = event.id;
      cell(row, localTime(event.time));
      cell(row, event.type);
      cell(row, event.service);
      cell(row, event.route);
      cell(row, event.detector);
      cell(row, event.findings, "number");
      cell(row, event.action, event.action === "block" ? "action-block" : "");
      cell(row, event.identity_value || shortId(event.identity), "mono").title = event.identity || "";
      row.addEventListener("click", () => showEvent(event.id));
    });
  }

  async function showEvent(id) {
    try {
      const event = await json(`/v1/telemetry/events/${encodeURIComponent(id)}`, new URLSearchParams());
      for (const row of document.querySelectorAll("#events tbody tr")) row.classList.toggle("selected", row.dataset.eventId === String(id));
      $("detail-id").textContent = `${event.event_id} (${event.type})`;
      const facts = $("detail-facts");
      facts.replaceChildren();
      const entity = event.detail.entity || {};
      const pairs = [
        ["time", localTime(event.time)],
        ["service / node", `${event.service} (${event.node_id})`],
        ["peer", event.peer],
        ["request", `${event.method || ""} route ${event.route || "–"}, status ${event.status || "–"}, id ${event.request_id || "–"}`],
        ["action", `${event.action}${event.enforced ? " (enforced)" : ""}`],
        ["identity", event.identity ? `${event.identity_kind} ${event.identity_value || event.identity}${entity.verified === false ? " (not verified)" : ""}` : null],
        ["score", event.score],
      ];
      for (const [name, value] of pairs) {
        const term = document.createElement("dt");
        term.textContent = name;
        const description = document.createElement("dd");
        description.textContent = value === null || value === undefined ? "–" : String(value);
        facts.append(term, description);
      }
      const findings = event.type === "finding" ? event.parts : [];
      fillTable("detail-parts", findings, (row, part) => {
        cell(row, part.detector);
        cell(row, part.location_kind);
        cell(row, part.location, "mono");
        cell(row, part.findings, "number");
        cell(row, part.masked_sample, "mono");
        cell(row, part.fingerprints.join(" "), "mono");
      });
      $("detail-json").textContent = JSON.stringify(event.detail, null, 2);
      $("detail").hidden = false;
      $("detail").scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (error) {
      status("Could not load the event: " + error.message, true);
    }
  }

  async function download(format) {
    try {
      const filter = currentFilter();
      const response = await api("/v1/telemetry/export", withParams(filter.params, { format }));
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = `meshveil-telemetry.${format}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      status("Export failed: " + error.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      load();
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      status("Token forgotten. Enter an analyst token to load telemetry.");
    });
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    $("export-csv").addEventListener("click", (event) => {
      event.preventDefault();
      download("csv");
    });
    $("export-jsonl").addEventListener("click", (event) => {
      event.preventDefault();
      download("jsonl");
    });
    $("detail-close").addEventListener("click", () => {
      $("detail").hidden = true;
    });
    load();
  });
})();
