// The operators' console: one page, views by URL fragment (#/users, #/requests/{id}, …), every
// number and change through the admin API (/admin/v1/…) with the session cookie of
// /console/session and, on changes, its CSRF token. Pages are built with DOM calls only (no
// HTML from data), so nothing a user, client or device registered can run here.
"use strict";

(() => {
  let csrfToken = null;
  // True while a view's periodic refresh issues its calls (they start synchronously, see every).
  let refreshing = false;
  let stopView = () => {};
  const main = document.getElementById("main");
  const announce = document.getElementById("announce");

  // ---------------------------------------------------------------- helpers

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const svgNs = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(svgNs, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    for (const child of children) el.append(child);
    return el;
  }

  function time(t) {
    if (t === undefined || t === null) return "—";
    return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function badge(value) {
    return h("span", { class: `badge ${value}` }, value);
  }

  function say(message) {
    announce.textContent = "";
    setTimeout(() => { announce.textContent = message; }, 30);
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error_description) || (body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.error;
    }
  }

  // `background`: the page's own periodic refresh, which does not keep the session alive.
  async function api(method, path, body, background) {
    const headers = { Accept: "application/json" };
    if (background || refreshing) headers["X-Console-Background"] = "1";
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    const text = await response.text();
    let parsed = null;
    if (text) {
      try { parsed = JSON.parse(text); } catch { parsed = { error_description: text }; }
    }
    if (response.status === 401 && !path.startsWith("/console/session")) {
      showSignIn("Your console session has ended: sign in again.");
      throw new ApiError(401, parsed);
    }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const text = q.toString();
    return text ? `?${text}` : "";
  }

  function errorBox(err) {
    return h("p", { class: "error", role: "alert" }, err.message || String(err));
  }

  function field(id, labelText, input, hint) {
    input.id = id;
    const error = h("span", { class: "field-error", id: `${id}-error` });
    const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
    input.setAttribute("aria-describedby", describedBy);
    return h("div", { class: "field", "data-field": input.name || id },
      h("label", { for: id }, labelText),
      input,
      hint ? h("small", { id: `${id}-hint` }, hint) : null,
      error);
  }

  function table(headers, rows, empty) {
    if (!rows.length) return h("p", {}, empty || "Nothing to show.");
    return h("div", { class: "table-wrap" },
      h("table", {},
        h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", class: x.optional ? "optional" : null }, x.label || x)))),
        h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { class: headers[i] && headers[i].optional ? "optional" : null }, c)))))));
  }

  function every(ms, fn) {
    let stopped = false;
    let timer = null;
    const tick = async () => {
      if (stopped) return;
      try {
        refreshing = true;
        let pending;
        try { pending = fn(); } finally { refreshing = false; }
        await pending;
      } catch (e) { if (e.status === 401) return; }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    return () => { stopped = true; clearTimeout(timer); };
  }

  function page(title, ...content) {
    document.title = `${title} · CIBA console`;
    main.replaceChildren(h("h1", {}, title), ...content);
    main.focus();
  }

  // ---------------------------------------------------------------- sign-in

  function showSignIn(message) {
    stopView();
    stopView = () => {};
    csrfToken = null;
    document.getElementById("top").hidden = true;
    const token = h("input", { type: "password", name: "admin_token", autocomplete: "current-password", required: true });
    const status = h("div", {});
    const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title" }, "Sign in to the CIBA console"),
      message ? h("p", { class: "notice" }, message) : null,
      field("admin-token", "Admin token", token, "The server's admin token (data/admin-token in development)."),
      status,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.replaceChildren();
      try {
        const answer = await api("POST", "/console/session", { admin_token: token.value });
        csrfToken = answer.csrf_token;
        token.value = "";
        start();
      } catch (err) {
        token.setAttribute("aria-invalid", "true");
        status.replaceChildren(errorBox(err));
        token.focus();
      }
    });
    document.title = "Sign in · CIBA console";
    main.replaceChildren(form);
    token.focus();
  }

  async function signOut() {
    try { await api("DELETE", "/console/session"); } catch { /* signed out anyway */ }
    showSignIn("You are signed out.");
  }

  // ---------------------------------------------------------------- overview

  const outcomes = [
    ["approved", "var(--approved)"],
    ["denied", "var(--denied)"],
    ["expired", "var(--expired)"],
    ["pending", "var(--pending)"],
    ["cancelled", "var(--cancelled)"],
  ];

  function requestsChart(minutes) {
    const width = 720, height = 180, pad = 24;
    const totals = minutes.map((m) => outcomes.reduce((n, [k]) => n + m[k], 0));
    const max = Math.max(1, ...totals);
    const barWidth = (width - pad) / minutes.length;
    const sums = Object.fromEntries(outcomes.map(([k]) => [k, minutes.reduce((n, m) => n + m[k], 0)]));
    const label = `Requests per minute over the last hour: ${outcomes.map(([k]) => `${sums[k]} ${k}`).join(", ")}.`;
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height + 20}`, role: "img", "aria-label": label });
    svg.append(s("line", { x1: pad, y1: height, x2: width, y2: height, stroke: "#8c959f" }));
    const top = s("text", { x: 0, y: 12, "font-size": 11, fill: "#4a5560" });
    top.textContent = String(max);
    svg.append(top);
    minutes.forEach((m, i) => {
      let y = height;
      for (const [k, colour] of outcomes) {
        if (!m[k]) continue;
        const barHeight = (m[k] / max) * (height - 10);
        y -= barHeight;
        const rect = s("rect", { x: pad + i * barWidth + 1, y, width: Math.max(1, barWidth - 2), height: barHeight, fill: colour });
        const title = s("title");
        title.textContent = `${time(m.minute).slice(11, 16)}: ${m[k]} ${k}`;
        rect.append(title);
        svg.append(rect);
      }
    });
    for (const [x, anchor, text] of [[pad, "start", "−60 min"], [width, "end", "now"]]) {
      const t = s("text", { x, y: height + 15, "font-size": 11, fill: "#4a5560", "text-anchor": anchor });
      t.textContent = text;
      svg.append(t);
    }
    return h("div", {},
      svg,
      h("ul", { class: "legend", "aria-label": "Outcomes in the last hour" },
        outcomes.map(([k, colour]) => {
          const li = h("li", { "data-outcome": k }, `${k}: `, h("strong", {}, String(sums[k])));
          li.style.setProperty("--swatch", colour);
          return li;
        })));
  }

  function bars(rows) {
    const max = Math.max(1, ...rows.map((r) => r[1]));
    return rows.map(([label, value, bad]) => h("div", { class: "bar-row" },
      h("span", {}, label),
      (() => { const b = h("div", { class: bad ? "bar bad" : "bar", role: "presentation" }); b.style.width = `${(value / max) * 100}%`; return b; })(),
      h("span", { class: "mono" }, String(value))));
  }

  function overviewView() {
    const live = h("p", { class: "live", id: "live" }, "Connecting…");
    const body = h("div", {});
    page("Overview", live, body);
    const history = [];
    const source = new EventSource("/admin/v1/overview/stream");
    source.addEventListener("overview", (event) => {
      const o = JSON.parse(event.data);
      history.push(o);
      while (history.length && o.at - history[0].at > 65) history.shift();
      const before = history[0];
      live.className = "live on";
      live.textContent = `Live — updated ${time(o.at)}`;
      renderOverview(body, o, before);
    });
    source.addEventListener("error", async () => {
      live.className = "live";
      live.textContent = "Reconnecting…";
      try { await api("GET", "/console/session"); } catch (e) {
        if (e.status === 401) { source.close(); showSignIn("Your console session has ended: sign in again."); }
      }
    });
    return () => source.close();
  }

  function renderOverview(body, o, before) {
    const push = o.delivery.push;
    const pushRows = [];
    for (const provider of ["fcm", "apns"]) {
      const p = push[provider];
      pushRows.push([`${provider} sent`, p.sent, false]);
      pushRows.push([`${provider} skipped`, p.skipped, p.skipped > 0]);
      for (const [reason, n] of Object.entries(p.failed)) if (n) pushRows.push([`${provider} ${reason}`, n, true]);
    }
    const n = o.delivery.notifications;
    const notifyRows = [];
    for (const kind of ["ping", "push"]) {
      notifyRows.push([`${kind} delivered`, n[kind].delivered, false]);
      notifyRows.push([`${kind} retried`, n[kind].retried, n[kind].retried > 0]);
      notifyRows.push([`${kind} failed`, n[kind].failed, n[kind].failed > 0]);
      notifyRows.push([`${kind} abandoned`, n[kind].abandoned, n[kind].abandoned > 0]);
    }
    const lastMinute = (get) => (before && before !== o ? get(o) - get(before) : 0);
    const sent = (d) => d.delivery.push.fcm.sent + d.delivery.push.apns.sent;
    const delivered = (d) => d.delivery.notifications.ping.delivered + d.delivery.notifications.push.delivered;
    body.replaceChildren(
      h("section", { "aria-labelledby": "chart-title" },
        h("h2", { id: "chart-title" }, "Requests per minute, by outcome (all instances)"),
        requestsChart(o.requests_per_minute)),
      h("div", { class: "grid" },
        h("section", { "aria-labelledby": "push-title" },
          h("h2", { id: "push-title" }, "Pushes to devices (this instance)"),
          h("p", {}, `${lastMinute(sent)} sent in the last minute.`),
          bars(pushRows)),
        h("section", { "aria-labelledby": "notify-title" },
          h("h2", { id: "notify-title" }, "Notifications to clients (this instance)"),
          h("p", {}, `${lastMinute(delivered)} delivered in the last minute.`),
          bars(notifyRows))),
      h("section", { "aria-labelledby": "errors-title" },
        h("h2", { id: "errors-title" }, "Recent delivery errors"),
        table(["When", "What", "To", "Status", "Attempts", "Error", "Request"],
          o.recent_errors.map((e) => [time(e.created_at), e.source.replace("_", " "), e.target, badge(e.status),
            String(e.attempts), e.last_error, h("a", { href: `#/requests/${encodeURIComponent(e.request_id)}` }, e.request_id)]),
          "No failed delivery.")));
  }

  // ---------------------------------------------------------------- users

  function usersView(params) {
    const q = h("input", { type: "search", name: "q", value: params.get("q") || "" });
    const status = h("select", { name: "status" },
      h("option", { value: "" }, "any"), h("option", { value: "active" }, "active"), h("option", { value: "locked" }, "locked"));
    status.value = params.get("status") || "";
    const results = h("div", { "aria-live": "polite" });
    const search = h("form", { class: "filters", role: "search", "aria-label": "Search users" },
      field("user-q", "Username, email, phone or subject", q),
      field("user-status", "Status", status),
      h("button", { type: "submit" }, "Search"));
    search.addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/users${query({ q: q.value.trim(), status: status.value })}`;
    });
    page("Users", search, results, newUserForm());
    const load = async (cursor, append) => {
      try {
        const data = await api("GET", `/admin/v1/users${query({ q: params.get("q"), status: params.get("status"), cursor, limit: 25 })}`);
        const rows = data.users.map((u) => [
          h("a", { href: `#/users/${encodeURIComponent(u.id)}` }, u.username),
          u.display_name || "—", u.email || "—", u.phone || "—", h("code", {}, u.subject), badge(u.status)]);
        const next = data.next_cursor
          ? h("button", { type: "button", class: "secondary", onclick: () => load(data.next_cursor, true) }, "More users")
          : null;
        const content = [table(["Username", "Name", "Email", "Phone", { label: "Subject", optional: true }, "Status"], rows, "No user matches."), next];
        if (append) results.append(...content.filter(Boolean));
        else results.replaceChildren(h("h2", {}, `Users${params.get("q") ? ` matching “${params.get("q")}”` : ""}`), ...content.filter(Boolean));
        if (!append) say(`${data.users.length}${data.next_cursor ? "+" : ""} users found`);
      } catch (err) { results.replaceChildren(errorBox(err)); }
    };
    load();
  }

  function newUserForm() {
    const inputs = {
      username: h("input", { name: "username", required: true, autocomplete: "off" }),
      display_name: h("input", { name: "display_name", autocomplete: "off" }),
      email: h("input", { name: "email", type: "email", autocomplete: "off" }),
      phone: h("input", { name: "phone", type: "tel", autocomplete: "off" }),
    };
    const status = h("div", {});
    const form = h("form", { class: "card", "aria-labelledby": "new-user-title" },
      h("h2", { id: "new-user-title" }, "New user"),
      h("div", { class: "filters" },
        field("new-username", "Username", inputs.username),
        field("new-display-name", "Name shown on the phone", inputs.display_name),
        field("new-email", "Email", inputs.email),
        field("new-phone", "Phone", inputs.phone)),
      status,
      h("button", { type: "submit" }, "Create user"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const [k, input] of Object.entries(inputs)) if (input.value.trim()) body[k] = input.value.trim();
      try {
        const user = await api("POST", "/admin/v1/users", body);
        location.hash = `#/users/${encodeURIComponent(user.id)}`;
      } catch (err) { showFieldError(form, err, status); }
    });
    return form;
  }

  function userView(id) {
    const facts = h("div", {});
    const link = h("div", {});
    const devices = h("div", {});
    const requests = h("div", {});
    page("User", facts,
      h("section", { "aria-labelledby": "link-title" }, h("h2", { id: "link-title" }, "Link a new phone"), link),
      h("section", { "aria-labelledby": "devices-title" }, h("h2", { id: "devices-title" }, "Devices"), devices),
      h("section", { "aria-labelledby": "requests-title" }, h("h2", { id: "requests-title" }, "Recent requests"), requests));

    const showUser = async () => {
      const u = await api("GET", `/admin/v1/users/${encodeURIComponent(id)}`);
      document.title = `${u.username} · CIBA console`;
      main.querySelector("h1").textContent = `User ${u.username}`;
      const locked = u.status === "locked";
      const toggle = h("button", { type: "button", class: locked ? "" : "danger", id: "lock-toggle" }, locked ? "Unlock" : "Lock");
      toggle.addEventListener("click", async () => {
        if (!locked && !confirm(`Lock ${u.username}? Their pending requests are cancelled.`)) return;
        try {
          await api("POST", `/admin/v1/users/${encodeURIComponent(id)}/${locked ? "unlock" : "lock"}`);
          say(locked ? "User unlocked" : "User locked; pending requests cancelled");
          await refresh();
        } catch (err) { facts.append(errorBox(err)); }
      });
      facts.replaceChildren(h("section", { "aria-label": "Details" },
        h("dl", { class: "facts" },
          h("dt", {}, "Status"), h("dd", { id: "user-status" }, badge(u.status)),
          h("dt", {}, "Name"), h("dd", {}, u.display_name || "—"),
          h("dt", {}, "Email"), h("dd", {}, u.email || "—"),
          h("dt", {}, "Phone"), h("dd", {}, u.phone || "—"),
          h("dt", {}, "Subject"), h("dd", {}, h("code", {}, u.subject)),
          h("dt", {}, "Id"), h("dd", {}, h("code", {}, u.id)),
          h("dt", {}, "Created"), h("dd", {}, time(u.created_at))),
        h("div", { class: "actions" }, toggle,
          h("a", { href: `#/audit${query({ user_id: id })}` }, "Audit log of this user"))));
    };

    const showDevices = async () => {
      const data = await api("GET", `/admin/v1/devices${query({ user_id: id, limit: 50 })}`);
      devices.replaceChildren(table(["Device", "Platform", "Attestation", "Push", { label: "Enrolled", optional: true }, "Last seen", "Status", ""],
        data.devices.map((d) => [
          h("span", {}, d.display_name, h("br"), h("code", {}, d.device_id)),
          `${d.platform}${d.model ? ` · ${d.model}` : ""}${d.os_version ? ` · ${d.os_version}` : ""}`,
          badge((d.attestation && d.attestation.status) || "none"),
          h("span", {}, `${d.push.provider} `, d.push.provider === "none" ? "" : badge(d.push.token_valid ? "valid" : "invalid"),
            d.push.token_invalid_since ? h("small", {}, ` since ${time(d.push.token_invalid_since)}`) : ""),
          time(d.enrolled_at),
          time(d.last_seen_at),
          badge(d.status),
          d.status === "active"
            ? h("button", { type: "button", class: "danger", "aria-label": `Revoke ${d.display_name}`, onclick: async () => {
              if (!confirm(`Revoke ${d.display_name}? It can no longer approve.`)) return;
              try { await api("DELETE", `/admin/v1/devices/${encodeURIComponent(d.device_id)}`); say("Device revoked"); await showDevices(); } catch (err) { devices.append(errorBox(err)); }
            } }, "Revoke")
            : ""]),
        "No device: link a phone above."));
    };

    const showRequests = async () => {
      const data = await api("GET", `/admin/v1/requests${query({ user_id: id, limit: 10 })}`);
      requests.replaceChildren(requestTable(data.requests, "No request for this user yet."));
    };

    const linkButton = h("button", { type: "button", id: "new-enrollment" }, "Show an enrollment QR code");
    linkButton.addEventListener("click", async () => {
      try {
        const e = await api("POST", `/admin/v1/users/${encodeURIComponent(id)}/enrollments?qr=svg`);
        const img = h("img", { alt: `QR code of the enrollment link ${e.uri}`, src: `data:image/svg+xml;base64,${btoa(e.qr_svg)}` });
        link.replaceChildren(h("div", { class: "qr" }, img,
          h("div", { class: "uri" },
            h("p", {}, "Scan with the bank's app on the new phone, or open the link on it. Single use, until ", h("strong", {}, time(e.expires_at)), "."),
            h("p", {}, h("code", { id: "enrollment-uri" }, e.uri)),
            h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => link.replaceChildren(linkButton) }, "Hide")))));
        say("Enrollment QR code shown");
      } catch (err) { link.replaceChildren(linkButton, errorBox(err)); }
    });
    link.append(linkButton);

    const refresh = async () => { await Promise.all([showUser(), showDevices(), showRequests()]); };
    refresh().catch((err) => facts.replaceChildren(errorBox(err)));
    return every(3000, async () => { await Promise.all([showDevices(), showRequests(), showUser()]); });
  }

  // ---------------------------------------------------------------- requests

  function requestTable(items, empty) {
    return table(["Request", "State", "Client", "User", { label: "Scope", optional: true }, "Created", { label: "Message", optional: true }],
      items.map((r) => [
        h("a", { href: `#/requests/${encodeURIComponent(r.id)}` }, h("code", {}, r.id)),
        h("span", { "data-state": r.state }, badge(r.state)),
        r.client_id, h("a", { href: `#/users/${encodeURIComponent(r.user_id)}` }, r.user_id),
        r.scope.join(" "), time(r.created_at), r.binding_message || "—"]),
      empty);
  }

  function requestsView(params) {
    const client = h("input", { name: "client_id", value: params.get("client_id") || "" });
    const user = h("input", { name: "user_id", value: params.get("user_id") || "" });
    const state = h("select", { name: "state" },
      ["", "pending", "approved", "denied", "expired", "redeemed", "cancelled"].map((v) => h("option", { value: v }, v || "any")));
    state.value = params.get("state") || "";
    const filters = h("form", { class: "filters", "aria-label": "Filter requests" },
      field("req-client", "Client id", client), field("req-user", "User id", user), field("req-state", "State", state),
      h("button", { type: "submit" }, "Filter"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/requests${query({ client_id: client.value.trim(), user_id: user.value.trim(), state: state.value })}`;
    });
    const live = h("p", { class: "live" }, "Loading…");
    const list = h("div", { id: "request-list" });
    page("Requests", filters, live, list);
    const load = async () => {
      const data = await api("GET", `/admin/v1/requests${query({ client_id: params.get("client_id"), user_id: params.get("user_id"), state: params.get("state"), limit: 50 })}`);
      list.replaceChildren(requestTable(data.requests, "No request matches."));
      live.className = "live on";
      live.textContent = `Live — updated ${time(Date.now() / 1000 | 0)}`;
    };
    load().catch((err) => list.replaceChildren(errorBox(err)));
    return every(2000, load);
  }

  function requestView(id) {
    const body = h("div", {});
    page("Request", body);
    const load = async () => {
      const d = await api("GET", `/admin/v1/requests/${encodeURIComponent(id)}`);
      const r = d.request;
      const live = r.state === "pending" || r.state === "approved";
      const cancel = live
        ? h("button", { type: "button", class: "danger", id: "cancel-request", onclick: async () => {
          if (!confirm("Cancel this request? Its client is told it was denied.")) return;
          try { await api("POST", `/admin/v1/requests/${encodeURIComponent(id)}/cancel`); say("Request cancelled"); await load(); } catch (err) { body.append(errorBox(err)); }
        } }, "Cancel request")
        : null;
      body.replaceChildren(
        h("section", { "aria-label": "Details" },
          h("dl", { class: "facts" },
            h("dt", {}, "Id"), h("dd", {}, h("code", {}, r.id)),
            h("dt", {}, "State"), h("dd", { id: "request-state" }, badge(r.state)),
            h("dt", {}, "Client"), h("dd", {}, r.client_id),
            h("dt", {}, "User"), h("dd", {}, h("a", { href: `#/users/${encodeURIComponent(r.user_id)}` }, r.user_id)),
            h("dt", {}, "Scope"), h("dd", {}, r.scope.join(" ")),
            h("dt", {}, "Binding message"), h("dd", {}, r.binding_message || "—"),
            h("dt", {}, "acr"), h("dd", {}, r.acr_values.join(" ") || "—"),
            h("dt", {}, "Created"), h("dd", {}, time(r.created_at)),
            h("dt", {}, "Expires"), h("dd", {}, time(r.expires_at)),
            h("dt", {}, "Decided"), h("dd", {}, r.decided_at ? `${time(r.decided_at)} by ${r.decided_by || "—"}` : "—"),
            r.deny_reason ? [h("dt", {}, "Deny reason"), h("dd", {}, r.deny_reason)] : null),
          cancel ? h("div", { class: "actions" }, cancel) : null),
        h("section", { "aria-labelledby": "timeline-title" },
          h("h2", { id: "timeline-title" }, "Timeline"),
          h("ol", { class: "timeline" }, d.timeline.map((t) => h("li", {},
            h("strong", {}, t.event.replaceAll("_", " ")), ` — ${time(t.at)}`,
            t.detail && Object.keys(t.detail).length ? h("span", { class: "mono" }, ` ${JSON.stringify(t.detail)}`) : "")))),
        h("section", { "aria-labelledby": "pushes-title" },
          h("h2", { id: "pushes-title" }, "Pushes to the user's devices"),
          table(["Device", "Provider", "Status", "Attempts", "Last error"],
            d.pushes.map((p) => [h("code", {}, p.device_id), p.provider, badge(p.status), String(p.attempts), p.last_error || "—"]),
            "No push (no device with a push token, or none needed).")),
        h("section", { "aria-labelledby": "notifications-title" },
          h("h2", { id: "notifications-title" }, "Notifications to the client"),
          table(["Kind", "Status", "Attempts", "Last error"],
            d.notifications.map((n) => [n.kind, badge(n.status), String(n.attempts), n.last_error || "—"]),
            "None (a poll-mode client, or not decided yet).")));
      main.querySelector("h1").textContent = `Request ${r.binding_message ? `“${r.binding_message}”` : r.id}`;
    };
    load().catch((err) => body.replaceChildren(errorBox(err)));
    return every(2000, load);
  }

  // ---------------------------------------------------------------- clients

  const clientFields = [
    ["name", "Name shown on the phone", () => h("input", { name: "name", required: true })],
    ["backchannel_token_delivery_mode", "Token delivery mode", () => h("select", { name: "backchannel_token_delivery_mode" },
      ["poll", "ping", "push"].map((v) => h("option", { value: v }, v)))],
    ["backchannel_client_notification_endpoint", "Notification endpoint (ping and push)", () => h("input", { name: "backchannel_client_notification_endpoint", type: "url", placeholder: "https://" })],
    ["token_endpoint_auth_method", "Client authentication", () => h("select", { name: "token_endpoint_auth_method" },
      ["", "client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth"].map((v) => h("option", { value: v }, v || "server default")))],
    ["scope", "Scopes it may request (space-separated)", () => h("input", { name: "scope", placeholder: "openid profile" })],
    ["logo_uri", "Logo (https)", () => h("input", { name: "logo_uri", type: "url" })],
    ["jwks_uri", "JWK Set URL", () => h("input", { name: "jwks_uri", type: "url" })],
    ["jwks", "JWK Set (JSON)", () => h("textarea", { name: "jwks", spellcheck: "false" })],
    ["backchannel_authentication_request_signing_alg", "Signed authentication requests", () => h("select", { name: "backchannel_authentication_request_signing_alg" },
      ["", "ES256", "PS256"].map((v) => h("option", { value: v }, v || "not signed")))],
    ["id_token_signed_response_alg", "ID token algorithm", () => h("select", { name: "id_token_signed_response_alg" },
      ["", "ES256", "PS256", "RS256"].map((v) => h("option", { value: v }, v || "server default (ES256)")))],
    ["fapi", "FAPI-CIBA profile", () => h("select", { name: "fapi" },
      [["", "server default"], ["true", "yes"], ["false", "no"]].map(([v, t]) => h("option", { value: v }, t)))],
    ["tls_client_auth_subject_dn", "Certificate subject DN (tls_client_auth)", () => h("input", { name: "tls_client_auth_subject_dn" })],
    ["tls_client_auth_san_dns", "Certificate SAN DNS name", () => h("input", { name: "tls_client_auth_san_dns" })],
    ["tls_client_auth_san_uri", "Certificate SAN URI", () => h("input", { name: "tls_client_auth_san_uri" })],
    ["tls_client_auth_san_ip", "Certificate SAN IP address", () => h("input", { name: "tls_client_auth_san_ip" })],
    ["tls_client_auth_san_email", "Certificate SAN email", () => h("input", { name: "tls_client_auth_san_email" })],
  ];

  const fieldPhrases = {
    name: ["name must"],
    backchannel_client_notification_endpoint: ["backchannel_client_notification_endpoint", "notification endpoint"],
    backchannel_token_delivery_mode: ["backchannel_token_delivery_mode", "push mode"],
    scope: ["scope"],
    username: ["username"],
    email: ["email"],
    phone: ["phone"],
    display_name: ["display_name", "display name"],
  };

  function showFieldError(form, err, summary) {
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    const message = err.message || String(err);
    // The server names the field it refuses (or says it in words: fieldPhrases); the longest
    // phrase found wins (jwks_uri over jwks).
    const found = [...form.querySelectorAll("[data-field]")].map((f) => f.dataset.field)
      .flatMap((name) => (fieldPhrases[name] || [name]).filter((p) => message.includes(p)).map((p) => [p.length, name]))
      .sort((a, b) => b[0] - a[0]);
    const target = found.length ? form.querySelector(`[data-field="${found[0][1]}"]`) : null;
    if (target) {
      const input = target.querySelector("input, select, textarea");
      input.setAttribute("aria-invalid", "true");
      target.querySelector(".field-error").textContent = message;
      input.focus();
    }
    summary.replaceChildren(errorBox(err));
  }

  function newClientForm(onCreated) {
    const inputs = {};
    const fields = clientFields.map(([name, label, make]) => {
      inputs[name] = make();
      const f = field(`client-${name}`, label, inputs[name]);
      if (name === "jwks") f.classList.add("wide");
      return f;
    });
    const refresh = h("input", { type: "checkbox", id: "client-refresh", name: "grant_types" });
    const userCode = h("input", { type: "checkbox", id: "client-user-code", name: "backchannel_user_code_parameter" });
    const status = h("div", {});
    const form = h("form", { class: "card", "aria-labelledby": "new-client-title", novalidate: true },
      h("h2", { id: "new-client-title" }, "New client"),
      h("div", { class: "filters" }, fields,
        h("div", { class: "field", "data-field": "grant_types" }, h("label", { class: "check", for: "client-refresh" }, refresh, "Refresh tokens"), h("span", { class: "field-error" })),
        h("div", { class: "field", "data-field": "backchannel_user_code_parameter" }, h("label", { class: "check", for: "client-user-code" }, userCode, "Sends user codes"), h("span", { class: "field-error" }))),
      status,
      h("button", { type: "submit" }, "Create client"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const [name, input] of Object.entries(inputs)) {
        const value = input.value.trim();
        if (!value) continue;
        if (name === "jwks") {
          try { body.jwks = JSON.parse(value); } catch (e) {
            showFieldError(form, new Error(`jwks is not JSON: ${e.message}`), status);
            return;
          }
        } else if (name === "fapi") body.fapi = value === "true";
        else body[name] = value;
      }
      if (refresh.checked) body.grant_types = ["urn:openid:params:grant-type:ciba", "refresh_token"];
      if (userCode.checked) body.backchannel_user_code_parameter = true;
      try {
        const client = await api("POST", "/admin/v1/clients", body);
        form.reset();
        status.replaceChildren();
        for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
        for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
        onCreated(client);
      } catch (err) { showFieldError(form, err, status); }
    });
    return form;
  }

  function secretNotice(title, clientId, secret) {
    return h("div", { class: "notice", role: "alert", id: "secret-notice" },
      h("strong", {}, title), h("br"),
      "client_id ", h("code", { id: "shown-client-id" }, clientId), h("br"),
      secret ? ["client_secret ", h("code", { id: "shown-client-secret" }, secret), h("br"),
        "The secret is shown this once: store it now. Only its hash is kept."] : "It authenticates with its keys or certificate: no secret.");
  }

  function clientsView() {
    const shown = h("div", {});
    const list = h("div", {});
    const load = async () => {
      const items = [];
      let cursor;
      do {
        const data = await api("GET", `/admin/v1/clients${query({ cursor, limit: 200 })}`);
        items.push(...data.clients);
        cursor = data.next_cursor;
      } while (cursor && items.length < 1000);
      list.replaceChildren(table(["Name", "client_id", "Mode", { label: "Authentication", optional: true }, { label: "Registered", optional: true }, ""],
        items.map((c) => [c.name, h("code", {}, c.client_id), c.backchannel_token_delivery_mode, c.token_endpoint_auth_method,
          time(c.client_id_issued_at),
          h("div", { class: "actions" },
            c.token_endpoint_auth_method.startsWith("client_secret")
              ? h("button", { type: "button", class: "secondary", "aria-label": `Rotate the secret of ${c.name}`, onclick: async () => {
                if (!confirm(`Rotate the secret of ${c.name}? The old one stops working at once.`)) return;
                try { const r = await api("POST", `/admin/v1/clients/${encodeURIComponent(c.client_id)}/secret`); shown.replaceChildren(secretNotice(`New secret of ${c.name}`, r.client_id, r.client_secret)); shown.scrollIntoView(); } catch (err) { shown.replaceChildren(errorBox(err)); }
              } }, "Rotate secret")
              : null,
            h("button", { type: "button", class: "danger", "aria-label": `Delete ${c.name}`, onclick: async () => {
              if (!confirm(`Delete ${c.name}? Its live requests are cancelled and its tokens stop working.`)) return;
              try { await api("DELETE", `/admin/v1/clients/${encodeURIComponent(c.client_id)}`); say("Client deleted"); await load(); } catch (err) { shown.replaceChildren(errorBox(err)); }
            } }, "Delete"))]),
        "No client yet."));
    };
    page("Clients", shown, list, newClientForm(async (client) => {
      shown.replaceChildren(secretNotice(`Client ${client.name} created`, client.client_id, client.client_secret));
      say("Client created");
      await load();
      shown.scrollIntoView();
    }));
    load().catch((err) => list.replaceChildren(errorBox(err)));
  }

  // ---------------------------------------------------------------- audit

  function localInput(name, seconds) {
    const input = h("input", { type: "datetime-local", name });
    if (seconds) {
      const d = new Date(seconds * 1000);
      input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    }
    return input;
  }

  function auditView(params) {
    const user = h("input", { name: "user_id", value: params.get("user_id") || "" });
    const client = h("input", { name: "client_id", value: params.get("client_id") || "" });
    const kind = h("input", { name: "kind", value: params.get("kind") || "", list: "audit-kinds" });
    const kinds = h("datalist", { id: "audit-kinds" }, ["ciba_request", "ciba_request_refused", "push_enqueued", "device_enrolled",
      "device_enrollment_refused", "device_revoked", "enrollment_created", "user_created", "user_locked", "user_unlocked",
      "request_cancelled", "client_created", "client_deleted", "client_secret_rotated", "refresh_token_reuse",
      "signing_keys_rotated", "console_sign_in", "console_sign_in_failed"].map((k) => h("option", { value: k })));
    const since = localInput("since", Number(params.get("since")) || null);
    const until = localInput("until", Number(params.get("until")) || null);
    const filters = h("form", { class: "filters", "aria-label": "Filter the audit log" },
      field("audit-user", "User id", user), field("audit-client", "Client id", client), field("audit-kind", "Event kind", kind), kinds,
      field("audit-since", "From (your time)", since), field("audit-until", "Until (your time)", until),
      h("button", { type: "submit" }, "Filter"));
    const seconds = (input) => (input.value ? String(Math.floor(new Date(input.value).getTime() / 1000)) : "");
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      location.hash = `#/audit${query({ user_id: user.value.trim(), client_id: client.value.trim(), kind: kind.value.trim(), since: seconds(since), until: seconds(until) })}`;
    });
    const list = h("div", {});
    page("Audit log", filters, list);
    const rowsOf = (events) => events.map((e) => [String(e.id), time(e.at), h("strong", {}, e.kind),
      e.user_id ? h("a", { href: `#/users/${encodeURIComponent(e.user_id)}` }, e.user_id) : "—",
      e.client_id || "—",
      e.request_id ? h("a", { href: `#/requests/${encodeURIComponent(e.request_id)}` }, e.request_id) : "—",
      h("span", { class: "mono" }, JSON.stringify(e.detail))]);
    const headers = ["#", "When", "Event", "User", "Client", { label: "Request", optional: true }, { label: "Detail", optional: true }];
    const load = async (cursor) => {
      const data = await api("GET", `/admin/v1/audit${query({ user_id: params.get("user_id"), client_id: params.get("client_id"), kind: params.get("kind"), since: params.get("since"), until: params.get("until"), order: "desc", limit: 50, cursor })}`);
      const more = data.next_cursor ? h("button", { type: "button", class: "secondary", onclick: (event) => { event.target.remove(); load(data.next_cursor).catch((err) => list.append(errorBox(err))); } }, "Older events") : null;
      if (cursor) {
        const tbody = list.querySelector("tbody");
        for (const cells of rowsOf(data.events)) tbody.append(h("tr", {}, cells.map((c, i) => h("td", { class: headers[i].optional ? "optional" : null }, c))));
        if (more) list.append(more);
      } else {
        list.replaceChildren(table(headers, rowsOf(data.events), "No event matches."), more || "");
      }
    };
    load().catch((err) => list.replaceChildren(errorBox(err)));
  }

  // ---------------------------------------------------------------- routing

  function route() {
    stopView();
    stopView = () => {};
    const hash = location.hash.replace(/^#/, "") || "/overview";
    const [path, search] = hash.split("?");
    const params = new URLSearchParams(search || "");
    const parts = path.split("/").filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === parts[0]) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    let stop;
    if (parts[0] === "users" && parts[1]) stop = userView(parts[1]);
    else if (parts[0] === "users") stop = usersView(params);
    else if (parts[0] === "clients") stop = clientsView();
    else if (parts[0] === "requests" && parts[1]) stop = requestView(parts[1]);
    else if (parts[0] === "requests") stop = requestsView(params);
    else if (parts[0] === "audit") stop = auditView(params);
    else stop = overviewView();
    stopView = typeof stop === "function" ? stop : () => {};
  }

  function start() {
    document.getElementById("top").hidden = false;
    route();
  }

  document.getElementById("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", () => { if (csrfToken) route(); });

  (async () => {
    try {
      const session = await api("GET", "/console/session");
      csrfToken = session.csrf_token;
      start();
    } catch {
      showSignIn();
    }
  })();
})();
