// The cell explorer page. Talks only to TF Serving's documented REST API:
// POST {api}/v1/models/{model}:predict with signatures metadata, sample, interpolate, reconstruct
// (or reconstruct_masked, when GET {api}/v1/models/{model}/metadata lists it).
// Images arrive as nested lists in [-1, 1] in the generator's layout: [B, H, W, 1+C] (channel 0 red)
// or [B, C, H, W, 2] (independent: one red/green pair per protein).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MASK_THRESHOLD = 10;  // grey level of the red mask, as biogans_tf/eval/cell_stats.py
  const PRESET_BATCH = 32;    // cells sampled to find the young / dividing presets
  const PIXEL_UM = 0.1;       // physical pixel size written to OME-TIFF (µm)

  const S = {
    api: "", model: "", meta: null, layout: 4, h: 0, w: 0, greens: [],
    cells: [], nextSeed: 1, current: null, ends: [null, null], frames: [], lengths: [],
    timer: null, upload: null, busy: 0, masked: false,
  };

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  async function predict(signature, inputs) {
    const url = `${S.api}/v1/models/${encodeURIComponent(S.model)}:predict`;
    S.busy++;
    try {
      const r = await fetch(url, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ signature_name: signature, inputs }),
      });
      const body = await r.json().catch(() => ({ error: `HTTP ${r.status}, not JSON` }));
      if (!r.ok || body.error) throw new Error(`${signature}: ${body.error || "HTTP " + r.status}`);
      return body.outputs;
    } finally {
      S.busy--;
    }
  }

  // Nested JSON lists -> {data: Float32Array, shape}.
  function tensor(nested) {
    const shape = [];
    for (let x = nested; Array.isArray(x); x = x[0]) shape.push(x.length);
    const flat = shape.length ? nested.flat(shape.length - 1) : [nested];
    return { data: Float32Array.from(flat), shape };
  }

  // A generator batch -> cells {red, greens: [Float32Array(h*w)], z}.
  function toCells(images, zs) {
    const t = tensor(images), d = t.data, sh = t.shape, out = [];
    if (sh.length === 5) {
      const [B, C, H, W] = sh, hw = H * W;
      S.layout = 5; S.h = H; S.w = W;
      for (let b = 0; b < B; b++) {
        const at = (c, ch) => { const a = new Float32Array(hw); for (let i = 0; i < hw; i++) a[i] = d[((b * C + c) * hw + i) * 2 + ch]; return a; };
        out.push({ red: at(0, 0), greens: [...Array(C).keys()].map((c) => at(c, 1)), z: zs ? zs[b] : null });
      }
    } else {
      const [B, H, W, K] = sh, hw = H * W;
      S.layout = 4; S.h = H; S.w = W;
      for (let b = 0; b < B; b++) {
        const ch = (k) => { const a = new Float32Array(hw); for (let i = 0; i < hw; i++) a[i] = d[(b * hw + i) * K + k]; return a; };
        out.push({ red: ch(0), greens: [...Array(K - 1).keys()].map((k) => ch(k + 1)), z: zs ? zs[b] : null });
      }
    }
    return out;
  }

  // A cell -> one image in the generator's layout (nested lists), for `reconstruct`.
  function toLayout(cell) {
    const rows = (f) => [...Array(S.h).keys()].map((y) => [...Array(S.w).keys()].map((x) => f(y * S.w + x)));
    if (S.layout === 5) return cell.greens.map((g) => rows((i) => [cell.red[i], g[i]]));
    return rows((i) => [cell.red[i], ...cell.greens.map((g) => g[i])]);
  }

  const u8 = (v) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));

  // Draw red and/or green (either may be null) with the chosen palette, zoomed without smoothing.
  function paint(canvas, red, green) {
    const zoom = +$("zoom").value, pal = $("palette").value, n = S.h * S.w;
    canvas.width = S.w; canvas.height = S.h;
    canvas.style.width = `${S.w * zoom}px`; canvas.style.height = `${S.h * zoom}px`;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(S.w, S.h), p = img.data;
    for (let i = 0; i < n; i++) {
      const r = red ? u8(red[i]) : 0, g = green ? u8(green[i]) : 0;
      if (pal === "gray") { const m = Math.max(r, g); p.set([m, m, m, 255], 4 * i); }
      else if (pal === "mg") p.set([r, g, r, 255], 4 * i);
      else p.set([r, g, 0, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
  }

  const maxOf = (arrs) => {
    if (!arrs.length) return null;
    const out = Float32Array.from(arrs[0]);
    arrs.slice(1).forEach((a) => a.forEach((v, i) => { if (v > out[i]) out[i] = v; }));
    return out;
  };

  function tileGreen(cell) {
    const mode = $("tile-mode").value;
    return mode === "all" ? maxOf(cell.greens) : cell.greens[+mode] || null;
  }

  // Cell length (px): column extent of the largest 8-connected region of red > threshold.
  function cellLength(red) {
    const H = S.h, W = S.w, on = new Uint8Array(H * W), lab = new Int32Array(H * W);
    red.forEach((v, i) => { on[i] = u8(v) > MASK_THRESHOLD ? 1 : 0; });
    let best = 0, bestSpan = 0;
    for (let s = 0, id = 0; s < H * W; s++) {
      if (!on[s] || lab[s]) continue;
      id++;
      let size = 0, lo = W, hi = -1;
      const stack = [s];
      lab[s] = id;
      while (stack.length) {
        const i = stack.pop(), y = (i / W) | 0, x = i % W;
        size++; lo = Math.min(lo, x); hi = Math.max(hi, x);
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx, j = yy * W + xx;
          if (yy >= 0 && yy < H && xx >= 0 && xx < W && on[j] && !lab[j]) { lab[j] = id; stack.push(j); }
        }
      }
      if (size > best) { best = size; bestSpan = hi - lo + 1; }
    }
    return bestSpan;
  }

  // ---- browse ---------------------------------------------------------------------------------
  async function sampleBatch(seed, n) {
    const out = await predict("sample", { n, seed });
    return toCells(out.images, out.z);
  }

  async function browse(append) {
    const n = Math.max(1, Math.min(64, +$("count").value || 12));
    if (!append) { S.nextSeed = +$("seed").value || 0; S.cells = []; $("grid").textContent = ""; }
    const seed = S.nextSeed++;
    setStatus(`sampling ${n} cells (seed ${seed})…`);
    const cells = await sampleBatch(seed, n);
    cells.forEach((c, k) => { c.label = `seed ${seed} #${k}`; });
    S.cells.push(...cells);
    cells.forEach((c) => $("grid").appendChild(makeTile(c)));
    setStatus(`${S.model}: ${S.cells.length} cells`);
  }

  function makeTile(cell) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "tile"; b.title = `open ${cell.label}`;
    b.setAttribute("aria-label", `open cell ${cell.label}`);
    const cv = document.createElement("canvas");
    cv.className = "px";
    b.appendChild(cv);
    b.addEventListener("click", () => openCell(cell));
    cell.tile = cv;
    paint(cv, cell.red, tileGreen(cell));
    return b;
  }

  function repaintTiles() { S.cells.forEach((c) => paint(c.tile, c.red, tileGreen(c))); }

  // ---- one cell ---------------------------------------------------------------------------------
  function openCell(cell) {
    S.current = cell;
    $("cell").hidden = false;
    $("cell-info").textContent = `${cell.label}; cell length ${cellLength(cell.red)} px`;
    const panels = $("panels");
    panels.textContent = "";
    const fig = (name, red, green) => {
      const f = document.createElement("figure"), cv = document.createElement("canvas"), cap = document.createElement("figcaption");
      f.className = "panel protein-panel"; cv.className = "px"; cap.textContent = name;
      f.append(cv, cap); panels.appendChild(f); paint(cv, red, green);
    };
    fig("Bgs4 (red)", cell.red, null);
    cell.greens.forEach((g, q) => fig(S.greens[q], null, g));
    const toggles = $("overlay-toggles");
    toggles.querySelectorAll("label").forEach((l) => l.remove());
    S.greens.forEach((name, q) => {
      const l = document.createElement("label"), cb = document.createElement("input");
      cb.type = "checkbox"; cb.checked = q === 0; cb.dataset.q = q;  // all greens at once saturate the overlay
      cb.addEventListener("change", paintOverlay);
      l.append(cb, ` ${name}`); toggles.appendChild(l);
    });
    paintOverlay();
    $("cell").scrollIntoView({ block: "nearest" });
  }

  function paintOverlay() {
    if (!S.current) return;
    const on = [...$("overlay-toggles").querySelectorAll("input:checked")].map((c) => S.current.greens[+c.dataset.q]);
    paint($("overlay"), S.current.red, maxOf(on));
  }

  function repaintCell() { if (S.current) openCell(S.current); }

  // ---- cell cycle -----------------------------------------------------------------------------
  function showEnds() {
    const d = (c) => (c ? `${c.label} (${cellLength(c.red)} px)` : "none");
    $("ends").textContent = `start: ${d(S.ends[0])}, end: ${d(S.ends[1])}`;
  }

  async function presets() {
    const seed = (+$("seed").value || 0) + 7919;  // its own batch, away from the browsing seeds
    setStatus("finding young and dividing cells…");
    const cells = await sampleBatch(seed, PRESET_BATCH);
    cells.forEach((c, k) => { c.label = `preset seed ${seed} #${k}`; c.len = cellLength(c.red); });
    const sorted = [...cells].sort((a, b) => a.len - b.len);
    S.ends = [sorted[0], sorted[sorted.length - 1]];
    S.ends[0].label = `young (${S.ends[0].label})`; S.ends[1].label = `dividing (${S.ends[1].label})`;
    showEnds();
    await interpolate();
  }

  async function interpolate() {
    if (!S.ends[0] || !S.ends[1]) throw new Error("pick a start and an end cell first (or use the presets)");
    const steps = Math.max(2, Math.min(64, +$("steps").value || 16));
    setStatus(`interpolating ${steps} steps…`);
    const out = await predict("interpolate", { z0: S.ends[0].z, z1: S.ends[1].z, steps });
    S.frames = toCells(out.images, out.z);
    S.lengths = S.frames.map((f) => cellLength(f.red));
    const sl = $("slider");
    sl.max = String(steps - 1); sl.value = "0"; sl.disabled = false;
    ["play", "cycle-tiff", "cycle-png"].forEach((id) => { $(id).disabled = false; });
    showFrame();
    plotLengths();
    setStatus(`${S.model}: interpolation of ${steps} frames`);
  }

  function showFrame() {
    const k = +$("slider").value, f = S.frames[k];
    if (!f) return;
    paint($("cycle-canvas"), f.red, tileGreen(f));
    $("cycle-cap").textContent = `frame ${k + 1} / ${S.frames.length}`;
    $("length").textContent = `cell length: ${S.lengths[k]} px`;
    plotLengths();
  }

  function plotLengths() {
    const cv = $("length-plot"), ctx = cv.getContext("2d"), L = S.lengths;
    ctx.clearRect(0, 0, cv.width, cv.height);
    if (!L.length) return;
    const lo = Math.min(...L) - 1, hi = Math.max(...L) + 1, k = +$("slider").value;
    const X = (i) => 6 + (i * (cv.width - 12)) / Math.max(1, L.length - 1), Y = (v) => cv.height - 6 - ((v - lo) * (cv.height - 12)) / (hi - lo);
    ctx.strokeStyle = "#4a4"; ctx.beginPath();
    L.forEach((v, i) => (i ? ctx.lineTo(X(i), Y(v)) : ctx.moveTo(X(i), Y(v))));
    ctx.stroke();
    ctx.fillStyle = "#e33"; ctx.beginPath(); ctx.arc(X(k), Y(L[k]), 3, 0, 7); ctx.fill();
    ctx.fillStyle = "#888"; ctx.font = "10px sans-serif"; ctx.fillText(`${Math.min(...L)}–${Math.max(...L)} px`, 8, 12);
  }

  function togglePlay() {
    if (S.timer) { clearInterval(S.timer); S.timer = null; $("play").textContent = "Play"; return; }
    $("play").textContent = "Pause";
    S.timer = setInterval(() => {
      const sl = $("slider");
      sl.value = String((+sl.value + 1) % (+sl.max + 1));
      showFrame();
    }, 150);
  }

  // ---- reconstruct ----------------------------------------------------------------------------
  async function readUpload(file) {
    const buf = await file.arrayBuffer();
    if (/\.tiff?$/i.test(file.name) || /tiff/.test(file.type)) return window.BiogansTiff.decode(buf, file.name);
    const bmp = await createImageBitmap(new Blob([buf], { type: file.type || "image/png" }))
      .catch(() => { throw new Error(`${file.name}: not a readable PNG`); });
    const cv = document.createElement("canvas");
    cv.width = bmp.width; cv.height = bmp.height;
    const ctx = cv.getContext("2d");
    ctx.drawImage(bmp, 0, 0);
    const px = ctx.getImageData(0, 0, bmp.width, bmp.height).data, n = bmp.width * bmp.height;
    const red = new Float32Array(n), green = new Float32Array(n);
    for (let i = 0; i < n; i++) { red[i] = (px[4 * i] / 255) * 2 - 1; green[i] = (px[4 * i + 1] / 255) * 2 - 1; }
    return { w: bmp.width, h: bmp.height, red, green };
  }

  // Centre-pad (background -1) or centre-crop an image to the model's size.
  function fit(img) {
    const out = (src) => {
      const a = new Float32Array(S.h * S.w).fill(-1), oy = ((img.h - S.h) / 2) | 0, ox = ((img.w - S.w) / 2) | 0;
      for (let y = 0; y < S.h; y++) for (let x = 0; x < S.w; x++) {
        const sy = y + oy, sx = x + ox;
        if (sy >= 0 && sy < img.h && sx >= 0 && sx < img.w) a[y * S.w + x] = src[sy * img.w + sx];
      }
      return a;
    };
    return { red: out(img.red), green: out(img.green) };
  }

  async function onFile(file) {
    if (!file) return;
    try {
      const img = fit(await readUpload(file));
      S.upload = { name: file.name, ...img };
      $("reconstruct").disabled = false;
      $("recon-panels").textContent = "";
      addPanel($("recon-panels"), `input ${file.name}`, img.red, img.green);
      $("recon-info").textContent = `${file.name} loaded (fitted to ${S.h}x${S.w}); set "Green channel is" and press Reconstruct`;
    } catch (e) {  // one line naming the file; nothing stale stays reconstructable
      S.upload = null;
      $("reconstruct").disabled = true;
      $("recon-panels").textContent = "";
      $("recon-info").textContent = e.message;
    }
  }

  function addPanel(parent, name, red, green) {
    const f = document.createElement("figure"), cv = document.createElement("canvas"), cap = document.createElement("figcaption");
    f.className = "panel"; cv.className = "px"; cap.textContent = name;
    f.append(cv, cap); parent.appendChild(f); paint(cv, red, green);
    return cv;
  }

  async function reconstruct() {
    const q = +$("recon-protein").value, up = S.upload;
    // Only the uploaded protein's green is known. With reconstruct_masked the other greens are
    // ignored by the fit (their values do not matter); the plain reconstruct fits them as
    // background (-1), which biases the predicted proteins dark.
    const greens = S.greens.map((_, k) => (k === q ? up.green : new Float32Array(S.h * S.w).fill(-1)));
    const iterations = +$("iterations").value || 50, restarts = +$("restarts").value || 1;
    // Layout [B, C, H, W, 2] (independent) has one (red, green) pair per protein: its [2] channel
    // mask cannot pick a protein, so it keeps the plain signature.
    const masked = S.masked && S.layout === 4;
    const inputs = { images: [toLayout({ red: up.red, greens })], iterations, restarts, seed: 0 };
    if (masked) inputs.channel_mask = [1, ...S.greens.map((_, k) => (k === q ? 1 : 0))];
    S.reconSignature = masked ? "reconstruct_masked" : "reconstruct";
    $("recon-info").textContent = `reconstructing (${iterations} iterations, ${restarts} restarts)…`;
    const out = await predict(S.reconSignature, inputs);
    const rec = toCells(out.reconstructions, out.z)[0];
    rec.label = `reconstruction of ${up.name}`;
    const panels = $("recon-panels");
    panels.textContent = "";
    addPanel(panels, `input (${S.greens[q]})`, up.red, up.green);
    addPanel(panels, `reconstruction (${S.greens[q]})`, rec.red, rec.greens[q]);
    rec.greens.forEach((g, k) => { if (k !== q) addPanel(panels, `predicted ${S.greens[k]}`, rec.red, g); });
    const l2 = +out.l2[0], nll = +out.nll[0];
    const scope = masked ? `over observed channels: Bgs4 + ${S.greens[q]}` : "all channels";
    $("recon-info").textContent = `L2 ${l2.toFixed(4)} (RMS on [0,1], ${scope}), NLL ${nll.toFixed(2)}`;
    $("recon-info").dataset.l2 = String(l2);
    S.reconstruction = rec;
  }

  // ---- downloads ------------------------------------------------------------------------------
  const planesOf = (c) => [c.red, ...c.greens].map((a) => Uint8Array.from(a, u8));
  const channelNames = () => ["Bgs4", ...S.greens];

  function cellTiff() {
    return window.BiogansTiff.writeOme([planesOf(S.current)], S.w, S.h, channelNames(), PIXEL_UM);
  }

  function cycleTiff() {
    return window.BiogansTiff.writeOme(S.frames.map(planesOf), S.w, S.h, channelNames(), PIXEL_UM);
  }

  function save(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // PNG of a cell: the red, then red + each protein's green, side by side (1 px per pixel).
  function cellPng(cell, name) {
    const n = 1 + cell.greens.length, cv = document.createElement("canvas"), tmp = document.createElement("canvas");
    cv.width = S.w * n; cv.height = S.h;
    // paint() zooms with CSS only: the canvas bitmap stays 1 px per image pixel.
    [null, ...cell.greens].forEach((g, k) => { paint(tmp, cell.red, g); cv.getContext("2d").drawImage(tmp, k * S.w, 0); });
    cv.toBlob((b) => save(b, name), "image/png");
  }

  // ---- wiring ---------------------------------------------------------------------------------
  // Whether the model has reconstruct_masked (TF Serving's REST model metadata lists its signatures).
  async function hasMaskedReconstruct() {
    const url = `${S.api}/v1/models/${encodeURIComponent(S.model)}/metadata`;
    try {
      const r = await fetch(url);
      const body = r.ok ? await r.json() : {};
      const defs = ((body.metadata || {}).signature_def || {}).signature_def || {};
      return "reconstruct_masked" in defs;
    } catch (e) {
      return false;  // older exports and servers: the plain reconstruct
    }
  }

  // Wait while the server reports the model LOADING (TF Serving's model status; a server starting
  // up answers at once and loads the model meanwhile). Anything else: let the first call report it.
  async function waitWhileLoading() {
    const url = `${S.api}/v1/models/${encodeURIComponent(S.model)}`;
    for (let waited = 0; ; waited++) {
      let v = null;
      try {
        const r = await fetch(url);
        v = ((await r.json()).model_version_status || [])[0] || null;
      } catch (e) {
        return;
      }
      if (!v || (v.state !== "LOADING" && v.state !== "START")) return;
      setStatus(`${S.model} is loading (version ${v.version})… ${waited} s`);
      await new Promise((done) => setTimeout(done, 1000));
    }
  }

  async function connect() {
    S.api = $("api").value.trim().replace(/\/+$/, "");
    S.model = $("model").value.trim();
    setStatus(`connecting to ${S.model}…`);
    await waitWhileLoading();
    const m = await predict("metadata", {});
    const names = (a) => (Array.isArray(a) ? a : [a]).map(String);
    S.meta = { proteins: names(m.proteins), channels: names(m.channels), nz: +m.nz };
    S.masked = await hasMaskedReconstruct();
    await browse(false);
    const C = S.cells[0].greens.length;
    S.greens = S.meta.proteins.length === C ? S.meta.proteins
      : S.meta.channels.slice(-C).map((c) => c.replace(/^green:?/, "") || "green");
    const opts = (sel, list) => { sel.textContent = ""; list.forEach(([v, t]) => sel.add(new Option(t, v))); };
    opts($("tile-mode"), [...S.greens.map((g, q) => [String(q), `Bgs4 + ${g}`]), ["all", "composite (all greens)"]]);
    opts($("recon-protein"), S.greens.map((g, q) => [String(q), g]));
    repaintTiles();
  }

  // Run an async handler, reporting failures in the status line (never as uncaught errors).
  const guard = (fn) => async (...args) => {
    try { await fn(...args); } catch (e) { setStatus(e.message, true); }
  };

  function init() {
    const params = new URLSearchParams(location.search);
    const meta = (n) => { const c = document.querySelector(`meta[name=${n}]`).content; return c.includes("{{") ? "" : c; };
    $("api").value = params.get("api") ?? meta("biogans-api");
    $("model").value = params.get("model") || meta("biogans-model") || "cells";
    $("connect-form").addEventListener("submit", (e) => { e.preventDefault(); guard(connect)(); });
    $("sample").addEventListener("click", guard(() => browse(false)));
    $("more").addEventListener("click", guard(() => browse(true)));
    $("tile-mode").addEventListener("change", () => { repaintTiles(); showFrame(); });
    const repaint = () => { repaintTiles(); repaintCell(); showFrame(); };
    $("palette").addEventListener("change", repaint);
    $("zoom").addEventListener("change", repaint);
    $("use-a").addEventListener("click", () => { S.ends[0] = S.current; showEnds(); });
    $("use-b").addEventListener("click", () => { S.ends[1] = S.current; showEnds(); });
    $("preset").addEventListener("click", guard(presets));
    $("interpolate").addEventListener("click", guard(interpolate));
    $("slider").addEventListener("input", showFrame);
    $("play").addEventListener("click", togglePlay);
    $("upload").addEventListener("change", (e) => onFile(e.target.files[0]));
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); onFile(e.dataTransfer.files[0]); });
    $("reconstruct").addEventListener("click", guard(reconstruct));
    $("cell-tiff").addEventListener("click", () => save(new Blob([cellTiff()], { type: "image/tiff" }), "cell.ome.tif"));
    $("cell-png").addEventListener("click", () => cellPng(S.current, "cell.png"));
    $("cycle-tiff").addEventListener("click", () => save(new Blob([cycleTiff()], { type: "image/tiff" }), "cell-cycle.ome.tif"));
    $("cycle-png").addEventListener("click", () => cellPng(S.frames[+$("slider").value], "cell-cycle-frame.png"));
    guard(connect)();
  }

  // For scripts and tests: state and the byte producers behind the download buttons.
  window.explorer = { state: S, cellTiff, cycleTiff, cellLength, busy: () => S.busy };
  init();
})();
