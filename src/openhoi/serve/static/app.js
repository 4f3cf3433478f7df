// The openhoi page: pick a model and a photo, POST /api/predict, show the picture and pairs.
"use strict";

// Tableau-10, as openhoi.visualize.PALETTE: a pair's swatch has its colour in the picture.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const $ = (id) => document.getElementById(id);
let models = [];
let photo = null;        // the File to upload
let downloadUrl = null;  // object URL of the last JSON answer

async function getJson(url, options) {
  const response = await fetch(url, options);
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function currentModel() {
  return models.find((m) => m.name === $("model").value) || models[0];
}

function showModelInfo() {
  const m = currentModel();
  if (!m) return;
  $("model-info").textContent =
    `${m.task} model, label space ${m.label_space}, ${m.interactions.length} interactions`;
  $("interactions").placeholder = m.interactions.slice(0, 3).join(", ");
}

function choosePhoto(file) {
  photo = file;
  $("file-name").textContent = file ? `${file.name} (${Math.round(file.size / 1024)} KiB)`
                                    : "no photo chosen";
}

async function loadModels() {
  models = (await getJson("/api/models")).models;
  for (const m of models) {
    const option = new Option(`${m.name} (${m.task})`, m.name);
    option.title = m.checkpoint;
    $("model").add(option);
  }
  showModelInfo();
}

async function loadExamples() {
  for (const ex of (await getJson("/api/examples")).examples) {
    $("example").add(new Option(ex.name, ex.url));
  }
}

async function pickExample() {
  const url = $("example").value;
  if (!url) return choosePhoto(null);
  const blob = await (await fetch(url)).blob();
  choosePhoto(new File([blob], url.split("/").pop(), { type: blob.type }));
}

function boxText(box) {
  return box ? box.map((v) => Math.round(v)).join(", ") : "-";
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

function renderPairs(answer) {
  const body = $("pairs").tBodies[0];
  body.replaceChildren();
  const objects = new Map();  // object name of each pair, from its triplets
  for (const t of answer.triplets) {
    objects.set(JSON.stringify([t.human_box, t.object_box]), t.object);
  }
  for (const p of answer.pairs) {
    const row = body.insertRow();
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = PALETTE[(p.pair - 1) % PALETTE.length];
    const first = cell(row, ` ${p.pair}`);
    first.prepend(swatch);
    cell(row, boxText(p.human_box));
    cell(row, objects.get(JSON.stringify([p.human_box, p.object_box])) || "-");
    cell(row, boxText(p.object_box));
    const list = document.createElement("ul");
    for (const i of p.interactions) {
      const item = document.createElement("li");
      item.textContent = `${i.name} (${i.score.toFixed(3)})`;
      list.append(item);
    }
    row.insertCell().append(list);
  }
  if (!answer.pairs.length) {
    const row = body.insertRow();
    cell(row, "no pair scores above the minimum").colSpan = 5;
  }
}

function showAnswer(answer, task) {
  const { picture, pairs, ...json } = answer;  // the download is predict's JSON line
  document.body.dataset.shown = "false";
  $("picture").src = picture;
  $("caption").textContent =
    `${answer.image}: ${answer.width}x${answer.height} px, ${answer.triplets.length} triplets`;
  const detection = task === "detection";
  $("pairs").hidden = !detection;
  $("task-note").hidden = detection;
  $("task-note").textContent = detection ? "" :
    `This page lists pairs of detection models; see the JSON for this ${task} model's answer.`;
  if (detection) renderPairs(answer);
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(
    new Blob([JSON.stringify(json, null, 2)], { type: "application/json" }));
  $("download").href = downloadUrl;
  $("download").download = `${answer.image.replace(/\.[^.]*$/, "")}.json`;
  $("result").hidden = false;
}

async function detect(event) {
  event.preventDefault();
  if (!photo) return setStatus("Choose a photo or an example first.", true);
  const model = currentModel();
  const form = new FormData();
  form.append("image", photo, photo.name);
  form.append("model", model.name);
  form.append("top_k", $("top_k").value);
  form.append("min_score", $("min_score").value);
  form.append("interactions", $("interactions").value);
  form.append("draw", "true");
  $("run").disabled = true;
  setStatus("Detecting...");
  const start = performance.now();
  try {
    const answer = await getJson("/api/predict", { method: "POST", body: form });
    showAnswer(answer, model.task);
    setStatus(`Done in ${((performance.now() - start) / 1000).toFixed(1)} s.`);
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    $("run").disabled = false;
  }
}

function setUpDrop() {
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => {
    $("example").value = "";
    choosePhoto(e.dataTransfer.files[0] || null);
  });
}

async function main() {
  $("controls").addEventListener("submit", detect);
  $("picture").addEventListener("load", () => { document.body.dataset.shown = "true"; });
  $("model").addEventListener("change", showModelInfo);
  $("file").addEventListener("change", () => {
    $("example").value = "";
    choosePhoto($("file").files[0] || null);
  });
  $("example").addEventListener("change", () => pickExample().catch(
    (err) => setStatus(err.message, true)));
  setUpDrop();
  try {
    await Promise.all([loadModels(), loadExamples()]);
    document.body.dataset.ready = "true";
  } catch (err) {
    setStatus(`Cannot reach the server: ${err.message}`, true);
  }
}

main();
