// Browser test of the llmo admin UI in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core; no browser download).
//
// Starts `llmo serve` (the built binary) with a temporary database and admin
// key and a mock upstream, seeds an hour of request logs, then signs in,
// adds a provider through the form (after seeing the validation errors),
// tests it, creates a client key, sends a chat request through the gateway
// with that key and finds it in the logs page and the overview numbers;
// takes a screenshot of every page into screenshots/. Any uncaught page
// error, CSP violation or off-site request fails the test.
//
// Env: LLMO_BIN (default ../../target/debug/llmo), HEADFUL=1 to watch.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(here, process.env.LLMO_BIN || "../../target/debug/llmo");
const shots = join(here, "screenshots");
mkdirSync(shots, { recursive: true });

const tmp = mkdtempSync(join(tmpdir(), "llmo-ui-"));
const env = {
  PATH: process.env.PATH,
  HOME: tmp,
  LLMO_DB: join(tmp, "llmo.db"),
  LLMO_CONFIG: join(tmp, "llmo.toml"),
  NO_COLOR: "1",
};
execFileSync("touch", [env.LLMO_CONFIG]);
const keyFile = join(tmp, "admin.key");
const run = (...args) => execFileSync(bin, args, { env, encoding: "utf8" });
run("admin-key", "generate", "--out", keyFile);
const adminKey = readFileSync(keyFile, "utf8").trim();
run("migrate", "up");
seedLogs(env.LLMO_DB);

// ----- a mock OpenAI-compatible upstream
const upstreamCalls = [];
const upstream = createServer((req, res) => {
  let body = "";
  req.on("data", (d) => { body += d; });
  req.on("end", () => {
    upstreamCalls.push(req.method + " " + req.url);
    res.setHeader("content-type", "application/json");
    if (req.url.endsWith("/models")) return res.end(JSON.stringify({ object: "list", data: [] }));
    const model = (JSON.parse(body || "{}").model) || "x";
    res.end(JSON.stringify({
      id: "chatcmpl-mock", object: "chat.completion", created: 1, model,
      choices: [{ index: 0, message: { role: "assistant", content: "hello from the mock" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
    }));
  });
});
await new Promise((ok) => upstream.listen(0, "127.0.0.1", ok));
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}/v1`;

// ----- the gateway
const server = spawn(bin, ["serve", "--admin-key-file", keyFile, "--listen", "127.0.0.1:0"], { env, stdio: ["ignore", "pipe", "pipe"] });
let serverErr = "";
const base = await new Promise((ok, fail) => {
  server.stderr.on("data", (d) => {
    serverErr += d;
    const m = serverErr.match(/listening on (http:\/\/[0-9.:]+)/);
    if (m) ok(m[1]);
  });
  server.on("exit", (c) => fail(new Error("server exited " + c + ": " + serverErr)));
  setTimeout(() => fail(new Error("server did not start: " + serverErr)), 20000);
});

// A fresh profile directory each run (playwright passes it as --user-data-dir).
const ctx = await chromium.launchPersistentContext(join(tmp, "chromium-profile"), {
  executablePath: "/usr/bin/chromium",
  headless: !process.env.HEADFUL,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1366, height: 860 },
});
const problems = [];
let step = "start";
async function check(name, fn) {
  step = name;
  process.stdout.write(`- ${name} … `);
  await fn();
  process.stdout.write("ok\n");
}

try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (e) => problems.push(`[${step}] page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(`[${step}] console: ${m.text()}`); });
  // ERR_ABORTED = cancelled by a navigation (the redirect to the login page).
  page.on("requestfailed", (r) => r.failure()?.errorText === "net::ERR_ABORTED" || problems.push(`[${step}] request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) problems.push(`[${step}] off-site request: ${r.url()}`); });
  const shot = (name) => page.screenshot({ path: join(shots, name + ".png"), fullPage: true });

  await check("unauthenticated visit goes to the login page", async () => {
    await page.goto(base + "/admin-ui/");
    await page.waitForURL(/login\.html/);
    await shot("01-login");
  });

  await check("a wrong key shows an error; the right key signs in", async () => {
    await page.fill("#admin-key", "llmo-admin-wrong-wrong-wrong-wrong");
    await page.click("#login-submit");
    await page.waitForSelector("#login-error:not([hidden])");
    assert.match(await page.textContent("#login-error"), /not right/);
    await shot("02-login-error");
    await page.fill("#admin-key", adminKey);
    await page.click("#login-submit");
    await page.waitForSelector("#stat-requests");
    const stored = await page.evaluate(() => [sessionStorage.getItem("llmo_admin_key"), localStorage.length, document.cookie]);
    assert.equal(stored[0], adminKey, "key kept in sessionStorage");
    assert.equal(stored[1], 0, "nothing in localStorage");
    assert.equal(stored[2], "", "no cookie");
  });

  await check("overview shows the seeded traffic and charts", async () => {
    await page.waitForSelector(".chart svg rect.bar", { state: "attached" });
    assert.equal((await page.textContent("#stat-requests .value")).trim(), "120");
    assert.match(await page.textContent("#stat-errors .value"), /10\.0%/);
    assert.ok((await page.locator(".chart").count()) === 4);
    await shot("03-overview");
    await page.click("text=Last 24 hours");
    await page.waitForSelector(".seg button.on >> text=Last 24 hours");
    await shot("03b-overview-day");
  });

  await check("providers: empty state, validation error next to the field, then added", async () => {
    await page.click("nav >> text=Providers");
    await page.waitForSelector("text=No providers yet — add one");
    await shot("04-providers-empty");
    await page.click("#add-provider");
    await page.fill("#f-name", "mock");
    await page.selectOption("#f-kind", "openai-compatible");
    await page.fill("#f-base_url", "not a url");
    await page.fill("#f-api_key", "sk-test-abcdefghijklmnopSECRET1234");
    await page.fill("#f-models", "gpt-4o-mini");
    await page.click("#provider-form button[type=submit]");
    await page.waitForSelector("#err-base_url:not([hidden])");
    assert.match(await page.textContent("#err-base_url"), /not a valid URL/);
    assert.ok(await page.$eval("#f-base_url", (e) => e.classList.contains("invalid")));
    await shot("05-provider-validation");
    await page.fill("#f-base_url", upstreamUrl);
    await page.fill("#f-weight", "-3");
    await page.click("#provider-form button[type=submit]");
    await page.waitForSelector("#err-weight:not([hidden])");
    assert.match(await page.textContent("#err-weight"), /0 or more/);
    await page.fill("#f-weight", "2");
    await page.click("#provider-form button[type=submit]");
    await page.waitForSelector("tr[data-name=mock]");
    const row = await page.textContent("tr[data-name=mock]");
    assert.match(row, /sk-\.\.\.1234/);
    assert.match(row, /gpt-4o-mini/);
    assert.ok(!(await page.content()).includes("SECRET1234"), "key shown in full");
    await shot("06-providers");
  });

  await check("test button reaches the provider (one models-list call)", async () => {
    await page.click("tr[data-name=mock] >> text=Test");
    await page.waitForSelector("tr[data-name=mock] .badge.ok");
    assert.match(await page.textContent("tr[data-name=mock]"), /reachable/);
    assert.ok(upstreamCalls.includes("GET /v1/models"), upstreamCalls.join(","));
    await shot("06b-provider-test");
  });

  await check("edit and disable a provider", async () => {
    await page.click("tr[data-name=mock] >> text=Edit");
    await page.waitForSelector("#provider-form");
    assert.equal(await page.inputValue("#f-weight"), "2");
    await page.fill("#f-priority", "1");
    await page.click("#provider-form button[type=submit]");
    await page.waitForSelector("#provider-form", { state: "detached" });
    await page.click("tr[data-name=mock] >> text=Disable");
    await page.waitForSelector("tr[data-name=mock].disabled");
    await page.click("tr[data-name=mock] >> text=Enable");
    await page.waitForSelector("tr[data-name=mock]:not(.disabled)");
  });

  await check("models page shows the mapping", async () => {
    await page.click("nav >> text=Models");
    await page.waitForSelector("text=gpt-4o-mini");
    assert.match(await page.textContent("table"), /mock → gpt-4o-mini/);
    await shot("07-models");
  });

  let clientKey = "";
  await check("client key: created, shown once with a copy button, then only its prefix", async () => {
    await page.click("nav >> text=Client keys");
    await page.waitForSelector("text=No client keys yet");
    await page.fill("#f-name", "web-app");
    await page.fill("#f-rpm_limit", "120");
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("#new-key-value");
    const key = (await page.textContent("#new-key-value")).trim();
    assert.match(key, /^llmo-[A-Za-z0-9]{40}$/);
    clientKey = key;
    assert.ok(await page.isVisible("#copy-key"));
    await shot("08-key-created");
    await page.click("nav >> text=Providers");
    await page.click("nav >> text=Client keys");
    await page.waitForSelector("text=web-app");
    assert.ok(!(await page.content()).includes(key.slice(9)), "key shown again");
    await page.fill("#f-name", "bad name");
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("#err-name:not([hidden])");
    await shot("09-keys");
  });

  await check("client keys: searched by name in any case, paged by name", async () => {
    await page.fill("#search-keys", "WEB-A");
    await page.click("#search-keys ~ button[type=submit]");
    await page.waitForSelector("#pager-keys >> text=matching “WEB-A”");
    assert.match(await page.textContent("table"), /web-app/);
    await page.fill("#search-keys", "no-such-key");
    await page.click("#search-keys ~ button[type=submit]");
    await page.waitForSelector("text=No keys match “no-such-key”");
    assert.ok(await page.isDisabled("#next-keys"));
    await page.click("text=Clear the search");
    await page.waitForSelector("tr >> text=web-app");
  });

  await check("a chat request through the gateway with the new key", async () => {
    const res = await fetch(base + "/v1/chat/completions", {
      method: "POST",
      headers: { Authorization: "Bearer " + clientKey, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(text, /hello from the mock/);
  });

  await check("request logs: the new request on top, filter, pagination, details", async () => {
    await page.click("nav >> text=Request logs");
    // The recorder writes in batches: refresh until the row is there.
    for (let i = 0; i < 30; i++) {
      await page.waitForSelector("tbody tr.clickable");
      if ((await page.textContent("tbody tr.clickable >> nth=0")).includes("mock")) break;
      await page.waitForTimeout(200);
      await page.click("text=Refresh");
      await page.waitForLoadState("networkidle");
    }
    const top = await page.textContent("tbody tr.clickable >> nth=0");
    assert.match(top, /200.*gpt-4o-mini.*mock.*web-app/);
    assert.equal(await page.locator("tbody tr.clickable").count(), 50);
    await shot("10-logs");
    await page.click("tbody tr.clickable >> nth=0");
    await page.waitForSelector("#drawer:not([hidden])");
    assert.match(await page.textContent("#drawer-body"), /Prompt tokens12/);
    await shot("10b-log-details-real");
    await page.keyboard.press("Escape");
    await page.click("#older");
    await page.waitForSelector("text=Page 2");
    await page.fill("#f-status", "502");
    await page.click("#log-filters button[type=submit]");
    await page.waitForSelector("text=Page 1");
    const statuses = await page.$$eval("tbody tr.clickable td:nth-child(2)", (tds) => tds.map((t) => t.textContent.trim()));
    assert.equal(statuses.length, 12);
    assert.ok(statuses.every((s) => s === "502"), statuses.join(","));
    await page.click("tbody tr.clickable >> nth=0");
    await page.waitForSelector("#drawer:not([hidden])");
    assert.match(await page.textContent("#drawer-body"), /upstream_error/);
    await shot("11-log-details");
    await page.keyboard.press("Escape");
    await page.fill("#f-status", "abc");
    await page.click("#log-filters button[type=submit]");
    await page.waitForSelector("#err-status:not([hidden])");
  });

  await check("overview counts the new request; provider health shows it healthy", async () => {
    await page.click("nav >> text=Overview");
    await page.click("text=Last hour");
    await page.waitForSelector("#stat-requests");
    assert.equal((await page.textContent("#stat-requests .value")).trim(), "121");
    assert.match(await page.textContent(".chips"), /mock\s*healthy/);
    await shot("03c-overview-after-request");
  });

  await check("health page shows the live circuit state", async () => {
    await page.click("nav >> text=Health");
    await page.waitForSelector("text=Recent state changes");
    assert.match(await page.textContent("table"), /mock\s*healthy \(closed\)/);
    await shot("12-health");
  });

  await check("a quote in the URL hash is no error (unknown page → overview)", async () => {
    const before = problems.length;
    await page.goto(base + "/admin-ui/#/x'y");
    await page.waitForSelector("#stat-requests");
    await page.goto(base + "/admin-ui/#/logs?\"]'");
    await page.waitForSelector("main h1 >> text=Request logs");
    assert.deepEqual(problems.slice(before), []);
    await page.goto(base + "/admin-ui/#/overview");
  });

  await check("tables fit their cards at 1280 and 1024 px; row actions fully visible", async () => {
    // A provider as real ones look: a long internal URL, many models, disabled.
    const res = await fetch(base + "/admin/providers", {
      method: "POST",
      headers: { Authorization: "Bearer " + adminKey, "Content-Type": "application/json" },
      body: JSON.stringify({
        name: "azure-openai-westeurope-production", kind: "openai-compatible", enabled: false,
        base_url: "https://llm-gateway.internal.example.com:8443/openai/deployments/westeurope/v1",
        api_key_env: "AZURE_OPENAI_API_KEY_WESTEUROPE_PRODUCTION", priority: 2, weight: 10,
        models: ["gpt-4o", "gpt-4o-2024-11-20", "o3-mini", "text-embedding-3-large"],
      }),
    });
    assert.equal(res.status, 201, await res.text());
    for (const width of [1280, 1024]) {
      await page.setViewportSize({ width, height: 860 });
      for (const [nav, name] of [["Providers", "providers"], ["Models", "models"], ["Client keys", "keys"], ["Request logs", "logs"], ["Health", "health"], ["Overview", "overview"]]) {
        await page.click("nav >> text=" + nav);
        await page.waitForLoadState("networkidle");
        if (name === "logs" && (await page.isVisible("text=Fix the filter above"))) {
          await page.click("#log-filters >> text=Reset"); // the bad filter of an earlier step
          await page.waitForSelector("main table");
        }
        await page.waitForTimeout(100);
        await shot(`16-w${width}-${name}`);
        await page.waitForSelector("main table", { timeout: 5000 });
        assert.deepEqual(await layoutProblems(page), [], `${nav} at ${width} px`);
      }
    }
  });

  await check("narrow window: no sideways scrolling of the page; tables scroll in their cards", async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    for (const [nav, name] of [["Providers", "13-narrow-providers"], ["Overview", "14-narrow-overview"], ["Request logs", "15-narrow-logs"], ["Client keys", "15b-narrow-keys"]]) {
      await page.click("nav >> text=" + nav);
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(200);
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(over <= 1, `${nav} overflows by ${over}px`);
      assert.deepEqual(await layoutProblems(page), [], `${nav} at 400 px`);
      await shot(name);
    }
  });

  await check("sign out forgets the key", async () => {
    await page.click("#signout");
    await page.waitForURL(/login\.html/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("llmo_admin_key")), null);
  });

  assert.deepEqual(problems, [], "browser problems:\n" + problems.join("\n"));
  console.log(`\nall browser checks passed; screenshots in ${shots}`);
} catch (e) {
  console.error(`\nFAILED at step "${step}": ${e.stack || e}`);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await ctx.close();
  server.kill("SIGTERM");
  upstream.close();
  rmSync(tmp, { recursive: true, force: true });
}

/** What is wrong with the page's tables: a table wider than its card that
 * does not scroll, a card past the window's edge, a cell that clips its text
 * (unless its title holds it all), a row button outside the card's visible
 * part or with a clipped label. */
function layoutProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const vw = document.documentElement.clientWidth;
    const px = (n) => Math.round(n) + "px";
    for (const t of document.querySelectorAll("main table")) {
      const wrap = t.parentElement;
      const name = (document.querySelector("main h1")?.textContent || "?") + " table";
      const wr = wrap.getBoundingClientRect();
      const scrolls = ["auto", "scroll"].includes(getComputedStyle(wrap).overflowX);
      if (t.scrollWidth > wrap.clientWidth + 1 && !scrolls) out.push(`${name}: ${px(t.scrollWidth)} wide in a ${px(wrap.clientWidth)} card that does not scroll`);
      if (wr.right > vw + 1) out.push(`${name}: its card ends at ${px(wr.right)}, past the window (${px(vw)})`);
      for (const cell of t.querySelectorAll("th, td")) {
        if (cell.scrollWidth > cell.clientWidth + 1 && !cell.title) out.push(`${name}: cell "${cell.textContent.trim().slice(0, 40)}" clips its text`);
      }
      for (const b of t.querySelectorAll("td button, td .btn")) {
        const r = b.getBoundingClientRect();
        if (r.left < wr.left - 1 || r.right > wr.right + 1) out.push(`${name}: button "${b.textContent}" at ${px(r.left)}–${px(r.right)} is outside its card's visible ${px(wr.left)}–${px(wr.right)}`);
        if (b.scrollWidth > b.clientWidth + 1) out.push(`${name}: button "${b.textContent}" clips its label`);
      }
    }
    return out;
  });
}

/** 120 requests over the last hour (every 10th a 502), their per-minute
 * provider stats, and two circuit-state changes: what the gateway's
 * recorder writes. Uses python3's sqlite3 module (no node SQLite on 20). */
function seedLogs(db) {
  const py = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
rows = []
for i in range(120):
    ts = now - (119 - i) * 29_000
    model = ["gpt-4o-mini", "claude-haiku", "gemini-flash"][i % 3]
    provider = ["openai-main", "anthropic"][i % 2]
    err = i % 10 == 0
    rows.append((ts, "req-%04d" % i, ["web-app", "batch"][i % 2], model, provider, model, 1,
                 502 if err else 200, "upstream_error" if err else None, 180 + (i * 37) % 900,
                 120 if i % 2 else None, 150 + (i * 37) % 800, 40 + i, 0 if err else 25 + i, i % 2))
db.executemany("""INSERT INTO request_logs (ts, request_id, key_name, model, provider, upstream_model,
    attempts, status, error_type, latency_ms, ttfb_ms, upstream_ms, prompt_tokens, completion_tokens, stream)
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
db.execute("""INSERT INTO provider_stats (provider, bucket, requests, successes, failures, latency_ms_total, tokens_in, tokens_out)
    SELECT provider, ts / 60000, count(*), sum(status < 400), sum(status >= 400), total(latency_ms), sum(prompt_tokens), sum(completion_tokens)
    FROM request_logs GROUP BY provider, ts / 60000""")
db.execute("INSERT INTO provider_health (provider, state, consecutive_failures, last_error, changed_at) VALUES ('anthropic', 'open', 5, 'HTTP 529 overloaded', ?)", (now - 600_000,))
db.execute("INSERT INTO provider_health (provider, state, consecutive_failures, last_error, changed_at) VALUES ('anthropic', 'closed', 0, NULL, ?)", (now - 300_000,))
db.commit()
`;
  execFileSync("python3", ["-c", py, db]);
}
