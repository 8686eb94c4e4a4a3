// Sign-in: checks the key against the API, then keeps it in sessionStorage
// (this tab only; never a cookie or localStorage) for app.js to send.
"use strict";
(function () {
  const KEY = "llmo_admin_key";
  const form = document.getElementById("login-form");
  const input = document.getElementById("admin-key");
  const err = document.getElementById("login-error");
  const submit = document.getElementById("login-submit");
  const params = new URLSearchParams(location.search);
  function show(msg) {
    err.textContent = msg;
    err.hidden = !msg;
    input.classList.toggle("invalid", !!msg);
  }
  if (params.get("expired")) show("Your session ended or the admin key changed. Sign in again.");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) { show("Enter the admin key."); input.focus(); return; }
    submit.disabled = true;
    submit.textContent = "Checking…";
    try {
      const res = await fetch("../admin/providers", { headers: { Authorization: "Bearer " + key } });
      if (res.ok) {
        await res.arrayBuffer(); // finish the response before leaving the page
        sessionStorage.setItem(KEY, key);
        location.replace("./#/overview");
        return;
      }
      let msg = "Sign-in failed (HTTP " + res.status + ").";
      try { const b = await res.json(); if (b && b.error && b.error.message) msg = b.error.message; } catch (_) { /* not JSON */ }
      if (res.status === 401) msg = "That admin key is not right.";
      if (res.status === 429) msg = "Too many wrong keys from this address. Try again in " + (res.headers.get("Retry-After") || "a few") + " s.";
      show(msg);
    } catch (e) {
      show("Cannot reach the gateway: " + e.message);
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });
})();
