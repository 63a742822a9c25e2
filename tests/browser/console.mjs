// The operators' console in a real browser (headless Chromium through playwright-core) against
// the real server, as an operator uses it: sign in, search a user, show an enrollment QR code
// and enroll the terminal authenticator from its URI, create a client (a refused field first),
// watch a request appear live and get approved, lock the user and see the pending request
// cancelled, read the audit entry, sign out. Screenshots of the main pages go to
// CONFIG.screenshots. Run by tests/console.rs with CONSOLE_CONFIG (JSON: base, admin_token,
// username, authenticator, home, screenshots, chromium); prints one JSON line per step and
// exits non-zero at the first failed expectation.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const config = JSON.parse(process.env.CONSOLE_CONFIG);
const { base, username } = config;
mkdirSync(config.screenshots, { recursive: true });
const step = (name, detail = {}) => console.log(JSON.stringify({ step: name, ...detail }));
const authenticator = (...args) =>
  execFileSync(config.authenticator, ["--home", config.home, ...args], { encoding: "utf8" });
const shot = (page, name) => page.screenshot({ path: `${config.screenshots}/${name}.png`, fullPage: true });

async function backchannel(client, bindingMessage) {
  const response = await fetch(`${base}/backchannel/authenticate`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ scope: "openid", login_hint: username, binding_message: bindingMessage }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.auth_req_id;
}

async function poll(client, authReqId) {
  const response = await fetch(`${base}/token`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: authReqId }),
  });
  return { status: response.status, body: await response.json() };
}

/// The newest pending transaction the terminal authenticator sees.
function pendingTxn() {
  const listed = authenticator("list");
  const txn = listed.match(/txn_[A-Za-z0-9_-]+/);
  assert.ok(txn, `no pending request in: ${listed}`);
  return txn[0];
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const violations = [];
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("console", (m) => { if (m.type() === "error") violations.push(m.text()); });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  page.on("dialog", (d) => d.accept());

  // --- sign-in: a wrong token is refused where it was typed, the right one opens the overview
  await page.goto(`${base}/console`);
  await page.getByLabel("Admin token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not the admin token" }).waitFor();
  assert.equal(await page.getByLabel("Admin token").getAttribute("aria-invalid"), "true");
  // Keyboard: before the form, the skip link.
  await page.getByLabel("Admin token").focus();
  await page.keyboard.press("Shift+Tab");
  assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "admin-token");
  await page.getByLabel("Admin token").fill(config.admin_token);
  await page.keyboard.press("Enter");
  await page.getByText(/Live — updated/).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name.endsWith("ciba_console"));
  assert.ok(session, `no session cookie in ${JSON.stringify(cookies)}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie.includes("ciba_console")), false);
  assert.ok(!(await page.content()).includes(config.admin_token), "the admin token stays out of the page");
  step("signed_in");

  // --- users: search by a part of the email, open her page
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByLabel("Username, email, phone or subject").fill(config.email.split("@")[0].slice(2));
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: username, exact: true }).click();
  await page.getByRole("heading", { name: `User ${username}` }).waitFor();
  const userId = (await page.locator("dl.facts code").nth(1).textContent()).trim();
  assert.match(userId, /^usr_/);
  step("user_found", { userId });

  // --- a QR code of a fresh enrollment URI; the terminal authenticator enrolls from the URI
  await page.getByRole("button", { name: "Show an enrollment QR code" }).click();
  const qr = page.getByRole("img", { name: /QR code of the enrollment link/ });
  await qr.waitFor();
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth >= 200), "the QR code renders");
  const uri = (await page.locator("#enrollment-uri").textContent()).trim();
  assert.ok(uri.startsWith("ciba-enroll:") || uri.includes("code="), `an enrollment URI: ${uri}`);
  assert.ok((await qr.getAttribute("alt")).includes(uri));
  await shot(page, "user-enrollment-qr");
  authenticator("enroll", uri, "--name", "Anna's terminal");
  // The device list refreshes by itself.
  await page.getByText("Anna's terminal").waitFor();
  await page.getByRole("button", { name: "Revoke Anna's terminal" }).waitFor();
  step("enrolled_from_qr", { uri_prefix: uri.slice(0, 24) });

  // --- clients: a refused field is shown at the field; then a poll client, secret shown once
  await page.getByRole("link", { name: "Clients" }).click();
  await page.getByLabel("Name shown on the phone").fill("Call centre");
  await page.getByLabel("Token delivery mode").selectOption("ping");
  await page.getByLabel("Notification endpoint (ping and push)").fill("http://callcentre.example/cb");
  await page.getByRole("button", { name: "Create client" }).click();
  const endpoint = page.getByLabel("Notification endpoint (ping and push)");
  await page.locator('[data-field="backchannel_client_notification_endpoint"] .field-error').filter({ hasText: /https/ }).waitFor();
  assert.equal(await endpoint.getAttribute("aria-invalid"), "true");
  await shot(page, "clients-validation");
  await page.getByLabel("Token delivery mode").selectOption("poll");
  await endpoint.fill("");
  await page.getByLabel("Refresh tokens").check();
  await page.getByRole("button", { name: "Create client" }).click();
  const clientId = (await page.locator("#shown-client-id").textContent()).trim();
  const clientSecret = (await page.locator("#shown-client-secret").textContent()).trim();
  assert.ok(clientId && clientSecret.length >= 32);
  await page.getByRole("cell", { name: clientId }).waitFor();
  await shot(page, "clients");
  const client = { id: clientId, secret: clientSecret };
  step("client_created", { clientId });

  // --- requests: one appears live, the phone approves it, the state follows
  await page.getByRole("link", { name: "Requests" }).click();
  await page.getByText(/Live — updated/).waitFor();
  const first = await backchannel(client, "CALL-42");
  const txn = pendingTxn();
  const row = page.locator("#request-list tr", { hasText: txn });
  await row.locator('[data-state="pending"]').waitFor();
  authenticator("approve", txn);
  await row.locator('[data-state="approved"]').waitFor();
  const tokens = await poll(client, first);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  await row.locator('[data-state="redeemed"]').waitFor();
  await shot(page, "requests");
  await row.getByRole("link", { name: txn }).click();
  await page.getByRole("heading", { name: "Request “CALL-42”" }).waitFor();
  await page.locator("ol.timeline").getByText("decided").waitFor();
  await page.locator("ol.timeline").getByText("redeemed").first().waitFor();
  await shot(page, "request-detail");
  step("approved_live", { txn });

  // --- lock the user: the pending request is cancelled, the client hears access_denied
  const second = await backchannel(client, "CALL-43");
  const secondTxn = pendingTxn();
  await page.goto(`${base}/console#/users/${encodeURIComponent(userId)}`);
  const secondRow = page.locator("tr", { hasText: secondTxn });
  await secondRow.locator('[data-state="pending"]').waitFor();
  await page.getByRole("button", { name: "Lock" }).click();
  await page.locator("#user-status").getByText("locked").waitFor();
  await secondRow.locator('[data-state="cancelled"]').waitFor();
  const refused = await poll(client, second);
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error, "access_denied");
  step("locked_and_cancelled", { txn: secondTxn });

  // --- the audit log, filtered by user and kind
  await page.getByRole("link", { name: "Audit log of this user" }).click();
  await page.getByLabel("Event kind").fill("user_locked");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator("tbody tr").first().getByText("user_locked").waitFor();
  assert.equal(await page.locator("tbody tr").count(), 1);
  await page.getByLabel("Event kind").fill("");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator("tbody").getByText("device_enrolled").waitFor();
  await shot(page, "audit");
  step("audit_read");

  // --- the overview counts what happened (one approved, one cancelled)
  await page.getByRole("link", { name: "Overview" }).click();
  await page.locator('[data-outcome="approved"] strong').filter({ hasText: "1" }).waitFor();
  await page.locator('[data-outcome="cancelled"] strong').filter({ hasText: "1" }).waitFor();
  await shot(page, "overview");
  step("overview_counts");

  // --- every form control has a label; narrow screens do not scroll sideways
  for (const view of ["#/users", "#/clients", "#/requests", "#/audit", `#/users/${userId}`]) {
    await page.goto(`${base}/console${view}`);
    await page.locator("main h1").waitFor();
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => el.type !== "hidden" && !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      .map((el) => el.name || el.id));
    assert.deepEqual(unlabelled, [], `unlabelled controls on ${view}`);
  }
  await page.setViewportSize({ width: 380, height: 800 });
  await page.goto(`${base}/console#/users/${userId}`);
  await page.getByRole("heading", { name: `User ${username}` }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the narrow page scrolls sideways by ${overflow}px`);
  await shot(page, "user-narrow");
  step("accessible");

  // --- sign out: the cookie no longer opens the admin API
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You are signed out.").waitFor();
  const after = await page.evaluate(async () => (await fetch("/admin/v1/users")).status);
  assert.equal(after, 401);
  step("signed_out");

  const csp = violations.filter((v) => /Content Security Policy|Refused to/i.test(v));
  assert.deepEqual(csp, [], "no Content-Security-Policy violation");
  const errors = violations.filter((v) => !/401|Unauthorized|the server responded with a status of 4/.test(v));
  assert.deepEqual(errors, [], "no script error");
  step("done");
} catch (err) {
  // What the operator would have seen, for the failure report.
  if (page) {
    await shot(page, "failure").catch(() => {});
    console.error(`page ${page.url()}:\n${await page.locator("body").innerText().catch(() => "?")}`);
  }
  console.error(`browser console: ${JSON.stringify(violations)}`);
  throw err;
} finally {
  await browser.close();
}
