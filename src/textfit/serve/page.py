"""The page `textfit serve` shows at `/`: type a text, see the labels with probability bars.

Plain HTML and a script served from the same origin (no CDN, no inline script): label names and
errors are put into the page with `textContent`, never parsed as HTML.
"""

from __future__ import annotations

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>textfit</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem;
         color: #1a1a1a; background: #fff; }
  h1 { font-size: 1.4rem; }
  textarea, input { width: 100%; box-sizing: border-box; font: inherit; padding: .5rem; }
  textarea { min-height: 7rem; }
  button { font: inherit; padding: .4rem 1.2rem; margin-top: .5rem; }
  .hidden { display: none; }
  #results { margin-top: 1.5rem; }
  .row { display: grid; grid-template-columns: 12rem 1fr 4.5rem; gap: .6rem; align-items: center;
         margin: .3rem 0; }
  .name { overflow-wrap: anywhere; }
  .track { background: #e8ecf4; height: 1.2rem; border-radius: 3px; }
  .bar { background: #2457c5; height: 100%; border-radius: 3px; }
  .top .name { font-weight: 600; }
  #error { color: #a00; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>textfit</h1>
<form id="form">
  <label for="text">Text to classify</label>
  <textarea id="text" name="text" required></textarea>
  <div id="pair-field" class="hidden">
    <label for="text-pair">Second text (this model reads pairs)</label>
    <textarea id="text-pair" name="text_pair"></textarea>
  </div>
  <div id="key-field" class="hidden">
    <label for="api-key">API key</label>
    <input id="api-key" type="password" autocomplete="off">
  </div>
  <button id="submit" type="submit">Classify</button>
</form>
<div id="results" aria-live="polite"></div>
<div id="error" role="alert"></div>
<script src="page.js"></script>
</body>
</html>
"""

PAGE_JS = """"use strict";
const form = document.getElementById("form");
const results = document.getElementById("results");
const errorBox = document.getElementById("error");
let pairs = false;

function show(predictions) {
  results.replaceChildren();
  for (const [index, item] of predictions[0].top_k.entries()) {
    const row = document.createElement("div");
    row.className = index === 0 ? "row top" : "row";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = item.label;
    const track = document.createElement("div");
    track.className = "track";
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = (100 * item.probability).toFixed(1) + "%";
    track.append(bar);
    const value = document.createElement("span");
    value.textContent = (100 * item.probability).toFixed(1) + "%";
    row.append(name, track, value);
    results.append(row);
  }
  document.body.dataset.state = "shown";
}

async function classify() {
  errorBox.textContent = "";
  const body = { text: document.getElementById("text").value, top_k: 20 };
  if (pairs) body.text_pair = document.getElementById("text-pair").value;
  const headers = { "Content-Type": "application/json" };
  const key = document.getElementById("api-key").value;
  if (key) headers["X-API-Key"] = key;
  try {
    const response = await fetch("predict", { method: "POST", headers, body: JSON.stringify(body) });
    const answer = await response.json();
    if (!response.ok) {
      results.replaceChildren();
      errorBox.textContent = answer.error + (answer.hint ? "\\n" + answer.hint : "");
      document.body.dataset.state = "error";
      return;
    }
    show(answer.predictions);
  } catch (err) {
    errorBox.textContent = "the server did not answer: " + err;
    document.body.dataset.state = "error";
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); classify(); });

async function start() {
  const health = await (await fetch("health")).json();
  pairs = health.text_pair;
  document.getElementById("pair-field").classList.toggle("hidden", !pairs);
  document.getElementById("key-field").classList.toggle("hidden", !health.api_key_required);
  // /?text=...&text_pair=... fills the form and classifies at once (a link that shows a result).
  const query = new URLSearchParams(location.search);
  if (query.has("text")) {
    document.getElementById("text").value = query.get("text");
    document.getElementById("text-pair").value = query.get("text_pair") || "";
    await classify();
  } else {
    document.body.dataset.state = "ready";
  }
}
start();
"""
