// layerscope page script: the channel viewer shared by the report and the explorer.
// Reads the page data from <script type="application/json" id="ls-data">; never fetches anything.
// Values under the cursor come from the grid PNG the page shows: its palette indices are decoded
// here (zlib via DecompressionStream) and mapped back through each channel's display range.
"use strict";
const LEVELS = 252, NONFINITE = 252;
const DATA = JSON.parse(document.getElementById("ls-data").textContent);
const store = { layers: DATA.layers || [], inputs: DATA.inputs || [], examples: DATA.examples || {},
  pictures: DATA.pictures || [], palettes: {} };
for (const [name, hex] of Object.entries(DATA.palettes || {})) {
  const table = new Uint8Array(hex.length / 2);
  for (let i = 0; i < table.length; i++) table[i] = parseInt(hex.substr(2 * i, 2), 16);
  store.palettes[name] = table;
}
const $ = (id) => document.getElementById(id);
const decoded = new WeakMap();

function dataBytes(uri) {
  const text = atob(uri.slice(uri.indexOf(",") + 1));
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// An 8-bit palette or grey PNG (what layerscope writes) -> {width, height, indices}.
async function decodePNG(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8, width = 0, height = 0, depth = 0, color = 0, interlace = 0, total = 0;
  const parts = [];
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (type === "IHDR") {
      width = view.getUint32(pos + 8); height = view.getUint32(pos + 12);
      depth = bytes[pos + 16]; color = bytes[pos + 17]; interlace = bytes[pos + 20];
    } else if (type === "IDAT") { parts.push(bytes.subarray(pos + 8, pos + 8 + length)); total += length; }
    else if (type === "IEND") break;
    pos += 12 + length;
  }
  if (depth !== 8 || (color !== 3 && color !== 0) || interlace) throw new Error("not an 8-bit palette PNG");
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) { joined.set(part, at); at += part.length; }
  const raw = await inflate(joined);
  const out = new Uint8Array(width * height);
  let prev = new Uint8Array(width);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (width + 1)], line = raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1));
    const cur = out.subarray(y * width, (y + 1) * width);
    for (let x = 0; x < width; x++) {
      const a = x ? cur[x - 1] : 0, b = prev[x], c = x ? prev[x - 1] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = v & 255;
    }
    prev = cur;
  }
  return { width, height, indices: out };
}

function gridImage(layer, input) {
  return document.querySelector(`img.ls-grid[data-layer="${layer}"][data-input="${input}"]`);
}

async function indicesOf(img) {
  if (!decoded.has(img)) decoded.set(img, decodePNG(dataBytes(img.getAttribute("src"))));
  return decoded.get(img);
}

// The tile position (index into layer.channels) under a point of a grid image, or -1.
function positionAt(img, layer, event) {
  const g = layer.geometry, rect = img.getBoundingClientRect();
  const x = (event.clientX - rect.left) / rect.width * g.width, y = (event.clientY - rect.top) / rect.height * g.height;
  const col = Math.floor((x - g.left) / g.cell_w), row = Math.floor((y - g.top) / g.cell_h);
  if (col < 0 || col >= g.cols || row < 0) return -1;
  const inside = x - g.left - col * g.cell_w < g.map_w && y - g.top - row * g.cell_h < g.map_h;
  const pos = row * g.cols + col;
  return inside && pos < g.count ? pos : -1;
}

// One channel's values (Float32Array, NaN where NaN/Inf) at the map's own resolution.
async function channelValues(layerIndex, input, pos) {
  const layer = store.layers[layerIndex], g = layer.geometry;
  const png = await indicesOf(gridImage(layerIndex, input));
  const w = g.map_w / g.scale, h = g.map_h / g.scale;
  const x0 = g.left + (pos % g.cols) * g.cell_w, y0 = g.top + Math.floor(pos / g.cols) * g.cell_h;
  const lo = layer.lo[pos] ?? 0, hi = layer.hi[pos] ?? 0, values = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const level = png.indices[(y0 + y * g.scale) * png.width + x0 + x * g.scale];
    values[y * w + x] = level < LEVELS ? lo + (level / (LEVELS - 1)) * (hi - lo) : NaN;
  }
  return { values, w, h, step: (hi - lo) / (LEVELS - 1) / 2 * (layer.step || 1), pool: g.pool || 1 };
}

function percentile(sorted, q) {
  if (!sorted.length) return 0;
  const at = (sorted.length - 1) * q / 100, i = Math.floor(at), f = at - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

function displayRange(mode, layer, pos, values) {
  const finite = Array.from(values).filter(Number.isFinite);
  if (mode === "shared") return [layer.lo[pos] ?? 0, layer.hi[pos] ?? 0];
  if (mode === "layer") return [Math.min(...layer.lo.filter(Number.isFinite)), Math.max(...layer.hi.filter(Number.isFinite))];
  if (!finite.length) return [0, 0];
  if (mode === "robust") { finite.sort((a, b) => a - b); return [percentile(finite, 1), percentile(finite, 99)]; }
  let lo = Infinity, hi = -Infinity;
  for (const v of finite) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (mode === "signed") { const m = Math.max(Math.abs(lo), Math.abs(hi)); return [-m, m]; }
  return [lo, hi];
}

function colorize(values, w, h, range, palette) {
  const image = new ImageData(w, h), px = image.data, [lo, hi] = range, span = hi - lo;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let level = NONFINITE;
    if (Number.isFinite(v)) level = span > 0 ? Math.min(LEVELS - 1, Math.max(0, Math.round((v - lo) / span * (LEVELS - 1)))) : 0;
    px[4 * i] = palette[3 * level]; px[4 * i + 1] = palette[3 * level + 1]; px[4 * i + 2] = palette[3 * level + 2]; px[4 * i + 3] = 255;
  }
  return image;
}

// a name (layer, file) in its own direction: a right-to-left override inside cannot reverse the text after it
const isolated = (text) => Object.assign(document.createElement("bdi"), { textContent: text });
const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4));
const state = { layer: 0, input: 0, pos: 0, current: null, range: [0, 0] };

function seenImage(input) {
  return document.querySelector(`.ls-input[data-input="${input}"] img.ls-seen`);
}

async function drawViewer() {
  const layer = store.layers[state.layer];
  const channel = layer.channels[state.pos];
  const data = await channelValues(state.layer, state.input, state.pos);
  state.current = data;
  const mode = $("ls-v-norm").value, cmap = $("ls-v-cmap").value;
  state.range = displayRange(mode, layer, state.pos, data.values);
  const palette = store.palettes[cmap] || store.palettes[layer.cmap];
  const small = document.createElement("canvas");
  small.width = data.w; small.height = data.h;
  small.getContext("2d").putImageData(colorize(data.values, data.w, data.h, state.range, palette), 0, 0);
  const canvas = $("ls-v-canvas"), ctx = canvas.getContext("2d"), seen = seenImage(state.input);
  const overlay = $("ls-v-overlay").checked && seen && seen.naturalWidth;
  $("ls-v-overlay").disabled = !seen;
  canvas.width = overlay ? seen.naturalWidth : data.w; canvas.height = overlay ? seen.naturalHeight : data.h;
  if (overlay) {
    ctx.drawImage(seen, 0, 0);
    ctx.globalAlpha = Number($("ls-v-alpha").value) / 100;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
    ctx.globalAlpha = 1;
  } else {
    ctx.drawImage(small, 0, 0);
  }
  const box = 512, scale = box / Math.max(canvas.width, canvas.height);
  canvas.style.width = `${Math.round(canvas.width * scale)}px`; canvas.style.height = `${Math.round(canvas.height * scale)}px`;
  canvas.style.imageRendering = overlay ? "auto" : "pixelated";
  drawColorbar(palette);
  $("ls-v-title").replaceChildren(isolated(layer.name), ` · channel ${channel}`);
  $("ls-v-sub").textContent = ` ${state.pos + 1} of ${layer.channels.length} shown (${layer.total} in the layer) · ${data.w}x${data.h}` +
    (data.pool > 1 ? ` (each pixel the mean of ${data.pool}x${data.pool} of the layer's map)` : "");
  const flags = Object.entries(layer.flagged || {}).filter(([, list]) => list.includes(state.pos)).map(([kind]) => kind);
  const flat = (layer.flat || {})[state.pos] ?? undefined;
  $("ls-v-flags").textContent = (flags.length ? `flagged by the diagnosis: ${flags.join(", ")}` : "") +
    (flat != null ? `${flags.length ? " · " : ""}drawn flat: its range is round-off, value ${fmt(flat)}` : "");
  $("ls-v-value").textContent = "move over the map";
  $("ls-v-value").dataset.channel = String(channel);
  drawExamples(layer.name, channel);
}

function drawColorbar(palette) {
  const bar = $("ls-v-colorbar"), ctx = bar.getContext("2d"), image = ctx.createImageData(bar.width, bar.height);
  for (let x = 0; x < bar.width; x++) {
    const level = Math.round(x / (bar.width - 1) * (LEVELS - 1));
    for (let y = 0; y < bar.height; y++) {
      const i = 4 * (y * bar.width + x);
      image.data[i] = palette[3 * level]; image.data[i + 1] = palette[3 * level + 1]; image.data[i + 2] = palette[3 * level + 2]; image.data[i + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  $("ls-v-lo").textContent = fmt(state.range[0]); $("ls-v-hi").textContent = fmt(state.range[1]);
}

function drawExamples(layerName, channel) {
  const holder = $("ls-v-examples");
  holder.replaceChildren();
  const items = (store.examples[layerName] || {})[String(channel)] || [];
  if (!items.length) return;
  const head = document.createElement("p");
  head.textContent = "Top dataset examples";
  holder.append(head);
  for (const item of items) {
    const src = String(item.src ?? store.pictures[item.picture]);  // each picture once, in DATA.pictures
    if (!src.startsWith("data:image/")) continue;
    const fig = document.createElement("figure"), img = document.createElement("img"), cap = document.createElement("figcaption");
    img.src = src; img.alt = item.caption;
    cap.textContent = item.score == null ? item.caption : `${item.caption} (${fmt(item.score)})`;
    fig.append(img, cap);
    if (item.box) img.addEventListener("load", () => {
      const k = img.clientWidth / img.naturalWidth, mark = document.createElement("span");
      mark.className = "ls-box";
      Object.assign(mark.style, { left: `${item.box[0] * k}px`, top: `${item.box[1] * k}px`,
        width: `${(item.box[2] - item.box[0]) * k}px`, height: `${(item.box[3] - item.box[1]) * k}px` });
      fig.append(mark);
    }, { once: true });
    holder.append(fig);
  }
}

function openViewer(layerIndex, input, pos) {
  Object.assign(state, { layer: layerIndex, input, pos });
  const layer = store.layers[layerIndex], select = $("ls-v-input"), cmaps = $("ls-v-cmap");
  select.replaceChildren(...store.inputs.map((item, i) => new Option(item.name, String(i), false, i === input)));
  if (!cmaps.options.length) cmaps.append(...Object.keys(store.palettes).map((name) => new Option(name, name)));
  cmaps.value = layer.cmap;
  const dialog = $("ls-viewer");
  if (!dialog.open) dialog.showModal();
  return drawViewer();
}

function onValue(event) {
  const data = state.current, canvas = $("ls-v-canvas");
  if (!data) return;
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left) / rect.width * data.w), y = Math.floor((event.clientY - rect.top) / rect.height * data.h);
  if (x < 0 || y < 0 || x >= data.w || y >= data.h) return;
  const v = data.values[y * data.w + x];
  const out = $("ls-v-value");
  const k = data.pool, block = k > 1 ? ` (the mean of the layer's x ${x * k}-${x * k + k - 1}, y ${y * k}-${y * k + k - 1})` : "";
  out.textContent = `x ${x}, y ${y}${block}: ${Number.isFinite(v) ? `${fmt(v)} ± ${fmt(data.step)}` : "NaN/Inf"}`;
  out.dataset.value = Number.isFinite(v) ? String(v) : "nan";
}

function step(delta) {
  const count = store.layers[state.layer].channels.length;
  state.pos = (state.pos + delta + count) % count;
  return drawViewer();
}

function wireViewer() {
  document.addEventListener("click", (event) => {
    const img = event.target.closest ? event.target.closest("img.ls-grid") : null;
    if (img) {
      const layerIndex = Number(img.dataset.layer), layer = store.layers[layerIndex];
      const pos = layer ? positionAt(img, layer, event) : -1;
      if (pos >= 0) openViewer(layerIndex, Number(img.dataset.input), pos).catch(showError);
      return;
    }
    const act = event.target.closest ? event.target.closest("#ls-viewer [data-act]") : null;
    if (!act) return;
    if (act.dataset.act === "close") $("ls-viewer").close();
    else step(act.dataset.act === "next" ? 1 : -1).catch(showError);
  });
  document.addEventListener("mousemove", (event) => {
    const img = event.target;
    if (!(img instanceof HTMLImageElement) || !img.classList.contains("ls-grid")) return;
    const layer = store.layers[Number(img.dataset.layer)], pos = layer ? positionAt(img, layer, event) : -1;
    img.title = pos >= 0 ? `channel ${layer.channels[pos]}` : "";
  });
  $("ls-v-canvas").addEventListener("mousemove", onValue);
  for (const id of ["ls-v-norm", "ls-v-cmap", "ls-v-overlay", "ls-v-alpha"]) $(id).addEventListener("input", () => drawViewer().catch(showError));
  $("ls-v-input").addEventListener("change", () => { state.input = Number($("ls-v-input").value); drawViewer().catch(showError); });
  $("ls-viewer").addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") step(1).catch(showError);
    if (event.key === "ArrowLeft") step(-1).catch(showError);
  });
}

function showError(err) {
  const out = $("ls-v-value");
  out.textContent = `could not draw this channel: ${err && err.message ? err.message : err}`;
}

// each mean map is embedded once, in the overview table; the layer sections show the same picture
for (const img of document.querySelectorAll("img.ls-mean[data-copy]")) {
  const source = document.querySelector(`.ls-thumb img[data-mean="${img.dataset.copy}"]`);
  if (source) img.src = source.getAttribute("src");
}
wireViewer();
