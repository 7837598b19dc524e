// layerscope explorer: upload or pick an input, choose a layer, browse channels (the report's viewer),
// and live mode: camera frames over a websocket, two frames in flight at most (the server keeps only
// the newest waiting frame too), so nothing queues up.
const ui = { item: null, socket: null, stream: null, inFlight: 0, dropped: 0, frames: 0, since: 0, distinct: new Set() };

function setStatus(text) { $("ls-status").textContent = text; }

function showResult(payload) {
  const holder = $("ls-result");
  holder.innerHTML = payload.html; // made by the server's templates: every string escaped
  if (payload.data) {
    store.layers = payload.data.layers;
    store.inputs = payload.data.inputs;
  }
}

async function call(url, options) {
  const response = await fetch(url, options);
  let payload = {};
  try { payload = await response.json(); } catch (err) { payload = { error: `${response.status} ${response.statusText}` }; }
  if (!response.ok) {
    if (payload.html) showResult(payload);
    throw new Error(payload.error || `${response.status}`);
  }
  return payload;
}

async function analyze() {
  if (!ui.item) return;
  setStatus("running the model...");
  const query = new URLSearchParams({ item: ui.item, layer: $("ls-layer").value, channels: $("ls-max").value });
  const started = performance.now();
  try {
    showResult(await call(`api/analyze?${query}`));
    setStatus(`done in ${Math.round(performance.now() - started)} ms`);
  } catch (err) { setStatus(`failed: ${err.message}`); }
}

async function animate() {
  setStatus("animating the layer over the frames...");
  const query = new URLSearchParams({ items: ui.frames_.join(","), layer: $("ls-layer").value, channels: "16" });
  try {
    const answer = await call(`api/animation?${query}`);
    const img = Object.assign(document.createElement("img"), { src: answer.src, alt: `${answer.layer} over ${answer.frames} frames` });
    img.id = "ls-animation";
    const old = $("ls-animation");
    if (old) old.replaceWith(img); else $("ls-frames").append(img);
    setStatus(`${answer.layer} over ${answer.frames} frames`);
  } catch (err) { setStatus(`failed: ${err.message}`); }
}

function listFrames(items) {
  const strip = $("ls-frames");
  strip.replaceChildren();
  ui.frames_ = items.map((item) => item.id);
  if (items.length < 2) return;
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: "animate the layer" });
  button.id = "ls-animate";
  button.addEventListener("click", animate);
  strip.append(button);
  for (const item of items) {
    const button = document.createElement("button"), img = document.createElement("img"), label = document.createElement("span");
    button.type = "button"; button.className = "ls-frame"; button.dataset.item = item.id;
    img.src = item.thumb; img.alt = item.name;
    label.replaceChildren(item.time == null ? isolated(item.name) : `${item.time.toFixed(1)} s`);
    button.append(img, label);
    strip.append(button);
  }
}

async function received(payload) {
  listFrames(payload.items);
  ui.item = payload.items[0].id;
  await analyze();
}

async function upload(file) {
  setStatus(`uploading ${file.name}...`);
  try {
    await received(await call("api/upload", { method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream", "X-Filename": encodeURIComponent(file.name) } }));
  } catch (err) { setStatus(`refused: ${err.message}`); }
}

async function pick(index) {
  try { await received(await call(`api/sample/${index}`, { method: "POST" })); }
  catch (err) { setStatus(`failed: ${err.message}`); }
}

// -- live mode ----------------------------------------------------------------------------------
function liveSettings() {
  return JSON.stringify({ layer: Number($("ls-layer").value), channels: Math.min(Number($("ls-max").value) || 16, 64) });
}

const IN_FLIGHT = 2; // one frame in the model, the next waiting: the server never idles between frames

function sendFrame() {
  const video = $("ls-video"), socket = ui.socket;
  if (ui.inFlight >= IN_FLIGHT) return; // the next answer sends the next frame
  if (!socket || socket.readyState !== WebSocket.OPEN || !video.videoWidth) {
    if (ui.socket) setTimeout(sendFrame, 30);
    return;
  }
  const canvas = document.createElement("canvas"), scale = 256 / Math.min(video.videoWidth, video.videoHeight);
  canvas.width = Math.round(video.videoWidth * Math.min(1, scale)); canvas.height = Math.round(video.videoHeight * Math.min(1, scale));
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  ui.inFlight += 1;
  canvas.toBlob((blob) => {
    if (blob && ui.socket && ui.socket.readyState === WebSocket.OPEN) {
      ui.socket.send(blob);
      if (ui.inFlight < IN_FLIGHT) setTimeout(sendFrame, 30); // the second frame, a little later in the video
    } else ui.inFlight -= 1;
  }, "image/jpeg", 0.85);
}

function fingerprint(text) { // FNV-1a over the whole data URI: tells grids apart
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h;
}

function onLive(event) {
  const result = JSON.parse(event.data);
  if (!result.settings) { // a frame's answer (a reply to malformed settings answers none); the frames dropped since leave flight too
    ui.inFlight = Math.max(0, ui.inFlight - 1 - ((result.dropped ?? 0) - ui.dropped));
    ui.dropped = result.dropped ?? ui.dropped;
  }
  if (result.error) { $("ls-live-caption").textContent = result.error; }
  else {
    $("ls-live-grid").src = result.grid;
    ui.distinct.add(fingerprint(result.grid));
    $("ls-live-caption").replaceChildren(isolated(result.layer), ` · ${result.selection ?? "top channels by mean activation"}: ${result.channels.slice(0, 8).join(", ")}`);
    const top = $("ls-live-top"), preds = $("ls-live-preds");
    top.replaceChildren(...result.top.map(([c, v]) => Object.assign(document.createElement("li"), { textContent: `channel ${c}: ${fmt(v)}` })));
    preds.replaceChildren(...result.predictions.map(([label, p]) => {
      const li = Object.assign(document.createElement("li"), { textContent: ` ${(100 * p).toFixed(1)}%` });
      li.prepend(isolated(label));
      return li;
    }));
    ui.frames += 1;
  }
  const seconds = (performance.now() - ui.since) / 1000, stats = $("ls-live-stats");
  stats.textContent = `${(ui.frames / seconds).toFixed(1)} frames/s · server ${result.ms ?? "-"} ms · dropped ${result.dropped ?? 0}`;
  stats.dataset.frames = String(ui.frames);
  stats.dataset.distinct = String(ui.distinct.size);
  sendFrame();
}

async function startLive() {
  const button = $("ls-live");
  if (ui.socket) { stopLive(); return; }
  try {
    ui.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
  } catch (err) { setStatus(`no camera: ${err.message}`); return; }
  $("ls-live-panel").hidden = false;
  $("ls-video").srcObject = ui.stream;
  const url = new URL("api/live", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  ui.socket = new WebSocket(url);
  Object.assign(ui, { frames: 0, since: performance.now(), inFlight: 0, dropped: 0, distinct: new Set() });
  ui.socket.addEventListener("open", () => { ui.socket.send(liveSettings()); sendFrame(); });
  ui.socket.addEventListener("message", onLive);
  ui.socket.addEventListener("close", () => { if (ui.socket) stopLive(); });
  button.textContent = "stop live camera";
}

function stopLive() {
  const socket = ui.socket;
  ui.socket = null;
  if (socket) socket.close();
  if (ui.stream) ui.stream.getTracks().forEach((track) => track.stop());
  ui.stream = null;
  $("ls-live").textContent = "start live camera";
}

function wireExplorer() {
  $("ls-file").addEventListener("change", () => { const file = $("ls-file").files[0]; if (file) upload(file); });
  document.addEventListener("click", (event) => {
    const sample = event.target.closest ? event.target.closest("button.ls-pick") : null;
    if (sample) pick(Number(sample.dataset.sample));
    const frame = event.target.closest ? event.target.closest("button.ls-frame") : null;
    if (frame) { ui.item = frame.dataset.item; analyze(); }
  });
  for (const id of ["ls-layer", "ls-max"]) $(id).addEventListener("change", () => {
    if (ui.socket && ui.socket.readyState === WebSocket.OPEN) ui.socket.send(liveSettings());
    analyze();
  });
  $("ls-live").addEventListener("click", startLive);
}

if (DATA.mode === "explorer") wireExplorer();
