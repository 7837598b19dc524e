// layerscope dataset atlas: a zoomable map of cells (pan: drag; zoom: wheel, double click, + and -; a click lists a
// cell's members). Each cell carries its own small thumbnails (data: URIs), decoded only when the cell is drawn
// large enough or clicked: never one giant sprite. Names are set with textContent only.
for (const root of document.querySelectorAll(".ls-atlas")) {
  const atlas = JSON.parse(root.querySelector(".ls-atlas-data").textContent);
  const canvas = root.querySelector(".ls-atlas-map"), ctx = canvas.getContext("2d");
  const info = root.querySelector(".ls-atlas-info"), shelf = root.querySelector(".ls-atlas-thumbs");
  const [rows, cols] = atlas.grid, colours = new Map(atlas.labels.map(([name, hex]) => [name, hex]));
  const labelHex = atlas.labels.map(([, hex]) => hex);
  const legend = root.querySelector(".ls-atlas-legend");
  for (const [name, hex] of atlas.labels) {
    const item = document.createElement("span");
    item.textContent = name; item.style.borderLeftColor = hex; legend.appendChild(item);
  }
  const size = canvas.width, view = { scale: 1, x: 0, y: 0 };
  const images = new Map();  // cell index -> [Image]; filled lazily
  let loaded = 0, selected = -1;
  root.dataset.loaded = "0";
  const THUMBS_FROM = 40;  // a cell this many pixels wide shows its thumbnails

  function pictures(index) {
    if (!images.has(index)) {
      images.set(index, atlas.cells[index].thumbs.map((uri) => {
        const image = new Image();
        image.onload = () => { loaded += 1; root.dataset.loaded = String(loaded); draw(); };
        image.src = uri;
        return image;
      }));
    }
    return images.get(index);
  }

  function draw() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, size, size);
    ctx.setTransform(view.scale, 0, 0, view.scale, view.x, view.y);
    const cw = size / cols, ch = size / rows, px = cw * view.scale;
    const dot = Math.max(1, 1.5 / view.scale), p = atlas.points;
    ctx.globalAlpha = 0.5;
    for (let i = 0; i < p.length; i += 3) {
      ctx.fillStyle = p[i + 2] >= 0 ? labelHex[p[i + 2]] : "#555";
      ctx.fillRect(p[i] / 1000 * size - dot / 2, (1 - p[i + 1] / 1000) * size - dot / 2, dot, dot);
    }
    ctx.globalAlpha = 1;
    atlas.cells.forEach((cell, index) => {
      const x = cell.col * cw, y = cell.row * ch;
      const sx = x * view.scale + view.x, sy = y * view.scale + view.y;
      if (sx > size || sy > size || sx + px < 0 || sy + ch * view.scale < 0) return;  // off screen: nothing decoded
      const hex = cell.label !== null && colours.has(cell.label) ? colours.get(cell.label) : "#5a5a5a";
      ctx.strokeStyle = hex; ctx.lineWidth = (index === selected ? 3 : 1.5) / view.scale;
      if (px >= THUMBS_FROM && cell.thumbs.length) {
        const shown = pictures(index), half = shown.length > 1 ? 2 : 1, w = cw / half, h = ch / half;
        ctx.fillStyle = "#000"; ctx.fillRect(x, y, cw, ch);
        shown.forEach((image, k) => {
          if (image.complete && image.naturalWidth) ctx.drawImage(image, x + (k % 2) * w, y + Math.floor(k / 2) * h, w, h);
        });
      } else {
        ctx.globalAlpha = 0.35; ctx.fillStyle = hex; ctx.fillRect(x, y, cw, ch); ctx.globalAlpha = 1;
      }
      ctx.strokeRect(x, y, cw, ch);
    });
    root.dataset.scale = view.scale.toFixed(3);
  }

  function zoom(factor, cx, cy) {
    const scale = Math.min(Math.max(view.scale * factor, 1), Math.max(rows, cols));
    view.x = cx - (cx - view.x) * (scale / view.scale); view.y = cy - (cy - view.y) * (scale / view.scale);
    view.scale = scale; clamp(); draw();
  }
  function clamp() {
    view.x = Math.min(0, Math.max(size - size * view.scale, view.x));
    view.y = Math.min(0, Math.max(size - size * view.scale, view.y));
  }
  function local(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * size / box.width, (event.clientY - box.top) * size / box.height];
  }
  function cellAt(sx, sy) {
    const col = Math.floor((sx - view.x) / view.scale / (size / cols)), row = Math.floor((sy - view.y) / view.scale / (size / rows));
    return atlas.cells.findIndex((cell) => cell.row === row && cell.col === col);
  }
  function show(index) {
    selected = index; shelf.replaceChildren();
    if (index < 0) { info.textContent = "an empty cell"; draw(); return; }
    const cell = atlas.cells[index];
    info.textContent = `cell (${cell.row}, ${cell.col}): ${cell.count} point${cell.count === 1 ? "" : "s"}` +
      (cell.label === null ? "" : `, mostly ${cell.label} (${Math.round(cell.purity * 100)}%)`) +
      (cell.thumbs.length ? "; nearest its centre:" : "");
    pictures(index).forEach((image, k) => {
      const figure = document.createElement("figure"), picture = document.createElement("img"), caption = document.createElement("figcaption");
      picture.src = image.src; picture.alt = cell.names[k] || "member"; caption.textContent = cell.names[k] || "";
      figure.append(picture, caption); shelf.appendChild(figure);
    });
    draw();
  }

  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [cx, cy] = local(event);
    zoom(event.deltaY < 0 ? 1.25 : 0.8, cx, cy);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    drag = { start: local(event), x: view.x, y: view.y, moved: false }; canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const [cx, cy] = local(event), dx = cx - drag.start[0], dy = cy - drag.start[1];
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    view.x = drag.x + dx; view.y = drag.y + dy; clamp(); draw();
  });
  canvas.addEventListener("pointerup", (event) => {
    if (drag && !drag.moved) show(cellAt(...local(event)));
    drag = null;
  });
  canvas.addEventListener("dblclick", (event) => zoom(2, ...local(event)));
  canvas.addEventListener("keydown", (event) => {
    const step = 40;
    if (event.key === "+" || event.key === "=") zoom(1.5, size / 2, size / 2);
    else if (event.key === "-") zoom(1 / 1.5, size / 2, size / 2);
    else if (event.key.startsWith("Arrow")) {
      view.x += event.key === "ArrowLeft" ? step : event.key === "ArrowRight" ? -step : 0;
      view.y += event.key === "ArrowUp" ? step : event.key === "ArrowDown" ? -step : 0;
      clamp(); draw();
    } else return;
    event.preventDefault();
  });
  draw();
}
