// edged status page: the live feed (/ui/events, server-sent events) drawn as a waterfall,
// a map of the recent fixes over the embedded basemap, and the state cards. No library:
// everything here is served by edged itself.
"use strict";

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";

// ---------- formatting ----------

function fmtCount(n) {
  if (n == null || !isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + " G";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + " k";
  return String(Math.round(n));
}

function fmtBytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fmtRate(r) {
  if (r == null || !isFinite(r)) return "–";
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

function fmtAge(sec) {
  if (sec == null || !isFinite(sec)) return "–";
  if (sec < 1) return (sec * 1000).toFixed(0) + " ms ago";
  if (sec < 90) return sec.toFixed(sec < 10 ? 1 : 0) + " s ago";
  if (sec < 5400) return Math.round(sec / 60) + " min ago";
  if (sec < 172800) return (sec / 3600).toFixed(1) + " h ago";
  return Math.round(sec / 86400) + " days ago";
}

function since(iso, now) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return isFinite(t) ? Math.max(0, (now - t) / 1000) : null;
}

function fmtMHz(hz) {
  return (hz / 1e6).toFixed(hz % 1e3 === 0 ? 3 : 6) + " MHz";
}

function fmtOffset(hz, step) {
  if (hz === 0) return "0";
  const sign = hz > 0 ? "+" : "−";
  const a = Math.abs(hz);
  if (step >= 1e6) return sign + (a / 1e6).toFixed(step % 1e6 ? 1 : 0) + " M";
  if (step >= 1e3) return sign + (a / 1e3).toFixed(step % 1e3 ? 1 : 0) + " k";
  return sign + a.toFixed(0);
}

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function setState(id, state, text) {
  const el = $(id);
  el.dataset.state = state;
  setText(id, text);
}

// ---------- colour map (inferno, 256 entries from its published control points) ----------

const LUT = (() => {
  const stops = [
    [0, 0, 0, 4], [0.13, 31, 12, 72], [0.25, 85, 15, 109], [0.38, 136, 34, 106],
    [0.5, 186, 54, 85], [0.63, 227, 89, 51], [0.75, 249, 140, 10], [0.88, 249, 201, 50], [1, 252, 255, 164],
  ];
  const lut = new Uint8ClampedArray(256 * 4);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [t0, r0, g0, b0] = stops[k], [t1, r1, g1, b1] = stops[k + 1];
    const f = (t - t0) / (t1 - t0);
    lut[i * 4] = r0 + f * (r1 - r0);
    lut[i * 4 + 1] = g0 + f * (g1 - g0);
    lut[i * 4 + 2] = b0 + f * (b1 - b0);
    lut[i * 4 + 3] = 255;
  }
  return lut;
})();

// ---------- waterfall ----------

// The waterfall is three canvases scrolled together: the gate's mark per window (one
// pixel wide), the spectrogram (one pixel per column and line, scaled up by the browser, so
// a frame costs a few thousand pixels, not the screen's), and the time labels.
const wf = {
  canvas: $("wf"),
  gate: $("wf-gate"),
  time: $("wf-time"),
  meta: null,
  dpr: 1,
  height: 1, // lines the waterfall holds (one per CSS pixel)
  lastLabel: null,
  labelEvery: 2,
  frames: 0,
  units: "",

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const h = Math.max(1, Math.round(r.height));
    if (h === this.height && dpr === this.dpr && this.canvas.width === (this.meta ? this.meta.cols : 1)) return;
    this.height = h;
    this.dpr = dpr;
    const cols = this.meta ? this.meta.cols : 1;
    this.canvas.width = cols;
    this.canvas.height = h;
    this.gate.width = 1;
    this.gate.height = h;
    const tr = this.time.getBoundingClientRect();
    this.time.width = Math.max(1, Math.round(tr.width * dpr));
    this.time.height = Math.max(1, Math.round(tr.height * dpr));
    for (const c of [this.canvas, this.gate, this.time]) {
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, c.width, c.height);
    }
    this.lastLabel = null;
    this.axis();
  },

  setMeta(m) {
    const reshape = !this.meta || this.meta.cols !== m.cols;
    this.meta = m;
    if (reshape) { this.height = 0; this.resize(); }
    // Label often enough to read the time, rarely enough not to crowd: about every 90 px.
    const pxPerSec = m.lines / Math.max(m.window_seconds || 0.05, 0.05);
    this.labelEvery = [0.5, 1, 2, 5, 10, 30, 60, 300].find((s) => s * pxPerSec >= 90) || 600;
    this.units = m.normalize && m.normalize !== "none" ? "z-score" : m.log === "db" ? "dB" : m.log === "ln" ? "ln" : "power";
    const rate = m.sample_rate_hz >= 1e6 ? (m.sample_rate_hz / 1e6).toFixed(3) + " MS/s" : (m.sample_rate_hz / 1e3).toFixed(0) + " kS/s";
    setText("wf-sub", `${fmtMHz(m.center_freq_hz)} centre · ${rate} · ${m.rows} bins × ${m.frames} frames per ${(m.window_seconds * 1000).toFixed(1)} ms window · gate ${m.gate_snr_db} dB · ${m.source}`);
    this.axis();
  },

  // axis draws the frequency ticks under the waterfall, in Hz from the capture's centre.
  axis() {
    const el = $("wf-axis");
    el.replaceChildren();
    const m = this.meta;
    if (!m || !m.cols_hz || m.cols_hz.length < 2) return;
    const hz = m.cols_hz.map((f) => f + m.shift_hz); // relative to the capture's centre
    const lo = hz[0], hi = hz[hz.length - 1];
    const width = el.getBoundingClientRect().width || 300;
    const step = niceStep(((hi - lo) * 70) / width);
    const pos = (f) => {
      // Columns are in frequency order but not evenly spaced for mel: interpolate.
      let i = 0;
      while (i < hz.length - 2 && hz[i + 1] < f) i++;
      const frac = (f - hz[i]) / (hz[i + 1] - hz[i] || 1);
      return ((i + frac + 0.5) / hz.length) * 100;
    };
    for (let f = Math.ceil(lo / step) * step; f <= hi + 1e-9; f += step) {
      const x = pos(f);
      if (x < 0 || x > 100) continue;
      const t = document.createElement("span");
      t.className = "tick" + (Math.abs(f) < step / 2 ? " centre" : "");
      t.textContent = Math.abs(f) < step / 2 ? fmtMHz(m.center_freq_hz) : fmtOffset(f, step);
      t.style.left = x + "%";
      el.appendChild(t);
    }
    const u = document.createElement("span");
    u.className = "tick unit";
    u.textContent = "Hz from the centre";
    u.style.left = "50%";
    el.appendChild(u);
  },

  // scroll moves a canvas's picture down by n of its pixels and clears the top.
  scroll(c, n) {
    const ctx = c.getContext("2d");
    ctx.drawImage(c, 0, 0, c.width, c.height - n, 0, n, c.width, c.height - n);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, c.width, n);
    return ctx;
  },

  frame(f) {
    const m = this.meta;
    if (!m || f.gen !== m.gen || f.cols !== this.canvas.width) return;
    const L = f.lines;
    // The frame: cols × lines bytes through the colour map, line 0 (the window's first
    // frame) lowest so that time runs upwards.
    const ctx = this.scroll(this.canvas, L);
    const px = Uint8Array.from(atob(f.px), (c) => c.charCodeAt(0));
    const img = ctx.createImageData(f.cols, L);
    for (let l = 0; l < L; l++) {
      const row = L - 1 - l;
      for (let c = 0; c < f.cols; c++) {
        const v = px[l * f.cols + c] * 4, o = (row * f.cols + c) * 4;
        img.data[o] = LUT[v];
        img.data[o + 1] = LUT[v + 1];
        img.data[o + 2] = LUT[v + 2];
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    // The gate's decision for the window(s) of this frame.
    const gctx = this.scroll(this.gate, L);
    gctx.fillStyle = f.passed === f.windows ? "#3ddc84" : f.passed > 0 ? "#2a9d5f" : "#3a4250";
    gctx.fillRect(0, 0, 1, L);
    // A time label when the frame crosses a multiple of labelEvery seconds.
    const dpr = this.dpr;
    const tctx = this.scroll(this.time, Math.round(L * (this.time.height / this.height)));
    const t = Date.parse(f.time) / 1000;
    const slot = Math.floor(t / this.labelEvery);
    if (isFinite(slot) && slot !== this.lastLabel) {
      if (this.lastLabel !== null) {
        tctx.fillStyle = "rgba(255,255,255,0.35)";
        tctx.fillRect(0, 0, Math.round(6 * dpr), Math.max(1, Math.round(dpr)));
        tctx.fillStyle = "#aab6c4";
        tctx.font = `${Math.round(10 * dpr)}px ${getComputedStyle(document.body).getPropertyValue("--mono")}`;
        tctx.textBaseline = "top";
        const d = new Date(slot * this.labelEvery * 1000);
        tctx.fillText(d.toTimeString().slice(0, 8), Math.round(8 * dpr), Math.round(2 * dpr));
      }
      this.lastLabel = slot;
    }
    this.frames++;
    const snr = f.snr_db == null ? "–" : f.snr_db.toFixed(1) + " dB";
    const fate = f.passed ? "→ model" : "below gate";
    setText("wf-last", `window ${f.seq_last} · SNR ${snr} · ${fate}${f.windows > 1 ? ` · ${f.windows} merged` : ""}`);
    setText("wf-lo", f.lo.toFixed(1));
    setText("wf-hi", f.hi.toFixed(1) + " " + this.units);
  },
};

function drawColourBar() {
  const c = $("wf-bar"), ctx = c.getContext("2d");
  const img = ctx.createImageData(256, 1);
  img.data.set(LUT);
  ctx.putImageData(img, 0, 0);
}

// ---------- map ----------

const R = 6378137; // spherical Mercator radius (EPSG:3857), metres
const MAXLAT = 85.05112878;

const map = {
  svg: $("map"),
  origin: null, // projected metres subtracted from every coordinate (keeps SVG's float32 precise)
  view: null, // {cx, cy, s}: centre in projected metres, metres per CSS pixel
  follow: true, // refit on new fixes until the operator pans or zooms
  fixes: new Map(), // id → {feature, el}
  order: [], // ids, oldest first
  cap: 200,
  selected: null,
  basemapReady: false,
  viewBox: "",

  merc(lon, lat) {
    const la = Math.max(-MAXLAT, Math.min(MAXLAT, lat)) * Math.PI / 180;
    return [R * lon * Math.PI / 180, -R * Math.log(Math.tan(Math.PI / 4 + la / 2))];
  },
  unmercLat(y) {
    return (2 * Math.atan(Math.exp(-y / R)) - Math.PI / 2) * 180 / Math.PI;
  },
  p(lon, lat) {
    const [x, y] = this.merc(lon, lat);
    return [x - this.origin[0], y - this.origin[1]];
  },

  setOrigin(lon, lat) {
    if (!this.origin) this.origin = this.merc(lon, lat);
  },

  size() {
    const r = this.svg.getBoundingClientRect();
    return [Math.max(1, r.width), Math.max(1, r.height)];
  },

  apply() {
    if (!this.view) return;
    const [w, h] = this.size();
    const { cx, cy, s } = this.view;
    const vb = `${cx - (w * s) / 2} ${cy - (h * s) / 2} ${w * s} ${h * s}`;
    if (vb === this.viewBox) return; // an unchanged view repaints nothing
    this.viewBox = vb;
    this.svg.setAttribute("viewBox", vb);
    $("basemap").setAttribute("viewBox", vb);
    this.graticule();
    this.scalebar();
  },

  // ---- basemap: delta-encoded quantised arcs (internal/cmd/basemap) ----
  drawBasemap(bm) {
    const [sx, sy] = bm.scale, [tx, ty] = bm.translate;
    const path = (arcs) => {
      const parts = [];
      for (const a of arcs) {
        let x = 0, y = 0, d = "";
        for (let i = 0; i < a.length; i += 2) {
          x += a[i];
          y += a[i + 1];
          const [px, py] = this.p(x * sx + tx, y * sy + ty);
          d += (i ? "L" : "M") + px.toFixed(0) + " " + py.toFixed(0);
        }
        parts.push(d);
      }
      return parts.join("");
    };
    $("coast").setAttribute("d", path(bm.coast));
    $("borders").setAttribute("d", path(bm.borders));
  },

  graticule() {
    const g = $("grat"), labels = $("grat-labels");
    const [w, h] = this.size();
    const { cx, cy, s } = this.view;
    const x0 = cx - (w * s) / 2, x1 = cx + (w * s) / 2, y0 = cy - (h * s) / 2, y1 = cy + (h * s) / 2;
    const ox = this.origin[0], oy = this.origin[1];
    const lon0 = ((x0 + ox) / R) * 180 / Math.PI, lon1 = ((x1 + ox) / R) * 180 / Math.PI;
    const lat1 = this.unmercLat(y0 + oy), lat0 = this.unmercLat(y1 + oy);
    const span = Math.max(lon1 - lon0, 1e-6);
    const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30];
    const step = steps.find((st) => span / st <= 6) || 30;
    let d = "";
    const lab = [];
    const dec = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
    // Longitudes along the top edge (clear of the zoom buttons), latitudes along the left
    // edge (clear of the scale bar).
    for (let lon = Math.ceil(lon0 / step) * step; lon <= lon1; lon += step) {
      const x = (R * lon * Math.PI) / 180 - ox;
      d += `M${x} ${y0}V${y1}`;
      const px = (x - x0) / s + 3;
      if (px > 44 && px < w - 90) lab.push([px, 3, `${Math.abs(lon).toFixed(dec)}°${lon < 0 ? "W" : "E"}`]);
    }
    for (let lat = Math.ceil(Math.max(lat0, -MAXLAT) / step) * step; lat <= Math.min(lat1, MAXLAT); lat += step) {
      const y = this.merc(0, lat)[1] - oy;
      d += `M${x0} ${y}H${x1}`;
      const py = (y - y0) / s - 13;
      if (py > 16 && py < h - 50) lab.push([4, py, `${Math.abs(lat).toFixed(dec)}°${lat < 0 ? "S" : "N"}`]);
    }
    let p = g.firstChild;
    if (!p) { p = document.createElementNS(SVGNS, "path"); g.appendChild(p); }
    p.setAttribute("d", d);
    labels.replaceChildren(...lab.map(([x, y, t]) => {
      const el = document.createElement("span");
      el.textContent = t;
      el.style.left = x + "px";
      el.style.top = y + "px";
      return el;
    }));
  },

  scalebar() {
    const { cy, s } = this.view;
    const mPerPx = s * Math.cos((this.unmercLat(cy + this.origin[1]) * Math.PI) / 180);
    const target = mPerPx * 110;
    const len = niceStep(target) > target ? niceStep(target) / 2 : niceStep(target);
    const px = len / mPerPx;
    $("scale-bar").style.width = px.toFixed(0) + "px";
    setText("scale-text", len >= 1000 ? `${len / 1000} km` : `${len} m`);
  },

  // ---- fixes ----
  ringPath(coords, type) {
    const polys = type === "MultiPolygon" ? coords : [coords];
    let d = "";
    for (const poly of polys) {
      for (const ring of poly) {
        ring.forEach(([lon, lat], i) => {
          const [x, y] = this.p(lon, lat);
          d += (i ? "L" : "M") + x.toFixed(2) + " " + y.toFixed(2);
        });
        d += "Z";
      }
    }
    return d;
  },

  add(feature, redraw = true) {
    if (!feature || !feature.id || !feature.geometry || this.fixes.has(feature.id)) return;
    const pr = feature.properties || {};
    this.setOrigin(pr.lon ?? 0, pr.lat ?? 0);
    const el = document.createElementNS(SVGNS, "path");
    el.setAttribute("class", "fix");
    el.setAttribute("d", this.ringPath(feature.geometry.coordinates, feature.geometry.type));
    el.dataset.id = feature.id;
    $("fixes").appendChild(el);
    this.fixes.set(feature.id, { feature, el });
    this.order.push(feature.id);
    while (this.order.length > this.cap) {
      const old = this.order.shift();
      this.fixes.get(old).el.remove();
      this.fixes.delete(old);
      if (this.selected === old) this.select(null);
    }
    if (redraw) this.refresh();
  },

  refresh() {
    const n = this.order.length;
    $("fixes").querySelectorAll("path.newest").forEach((e) => e.classList.remove("newest"));
    // Older fixes fade in steps by rank, so that a new fix restyles only the few that cross a
    // step (stroke-opacity, not opacity: translucent layers render slowly and with seams).
    this.order.forEach((id, i) => {
      const rank = n - 1 - i, el = this.fixes.get(id).el;
      const o = rank < 10 ? "0.95" : rank < 50 ? "0.6" : "0.3";
      if (el.style.strokeOpacity !== o) el.style.strokeOpacity = o;
    });
    const marks = $("marks");
    marks.replaceChildren();
    if (n) {
      const newest = this.fixes.get(this.order[n - 1]);
      newest.el.classList.add("newest");
      // The selected one above the rest, the newest on top: a tap where ellipses overlap
      // selects the newest.
      const g = $("fixes");
      if (this.selected && this.fixes.has(this.selected) && this.selected !== newest.feature.id) g.appendChild(this.fixes.get(this.selected).el);
      if (g.lastChild !== newest.el) g.appendChild(newest.el);
      const pr = newest.feature.properties || {};
      if (pr.lon != null) {
        const [x, y] = this.p(pr.lon, pr.lat);
        const c = document.createElementNS(SVGNS, "circle");
        c.setAttribute("cx", x);
        c.setAttribute("cy", y);
        c.setAttribute("r", 4 * (this.view ? this.view.s : 1));
        marks.appendChild(c);
      }
    }
    const newestTime = n ? (this.fixes.get(this.order[n - 1]).feature.properties || {}).time : null;
    setText("fix-count", n ? `${n} shown · newest ${newestTime ? new Date(newestTime).toLocaleTimeString() : ""}` : "no fix yet");
    if (this.follow) this.fit();
    else this.apply();
  },

  fit() {
    if (!this.origin) return;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const id of this.order) {
      const b = this.fixes.get(id).feature.bbox;
      if (!b) continue;
      const [ax, ay] = this.p(b[0], b[1]), [bx, by] = this.p(b[2], b[3]);
      x0 = Math.min(x0, ax, bx); x1 = Math.max(x1, ax, bx);
      y0 = Math.min(y0, ay, by); y1 = Math.max(y1, ay, by);
    }
    const [w, h] = this.size();
    if (!isFinite(x0)) {
      this.view = { cx: 0, cy: 0, s: (2 * Math.PI * R) / w };
    } else {
      const minSpan = 20000; // metres: a lone small ellipse still shows its surroundings
      const sw = Math.max(x1 - x0, minSpan), sh = Math.max(y1 - y0, minSpan);
      this.view = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, s: Math.max(sw / w, sh / h) * 1.25 };
    }
    this.apply();
    this.updateMarks();
  },

  updateMarks() {
    const c = $("marks").firstChild;
    if (c && this.view) c.setAttribute("r", 4 * this.view.s);
  },

  zoom(factor, px, py) {
    if (!this.view) return;
    const [w, h] = this.size();
    if (px == null) { px = w / 2; py = h / 2; }
    const v = this.view;
    const mx = v.cx + (px - w / 2) * v.s, my = v.cy + (py - h / 2) * v.s;
    const s = Math.min(Math.max(v.s / factor, 0.05), (4 * Math.PI * R) / w);
    this.view = { cx: mx - (px - w / 2) * s, cy: my - (py - h / 2) * s, s };
    this.manual();
  },

  pan(dx, dy) {
    if (!this.view) return;
    this.view.cx -= dx * this.view.s;
    this.view.cy -= dy * this.view.s;
    this.manual();
  },

  manual() {
    this.follow = false;
    $("fit").classList.remove("on");
    this.apply();
    this.updateMarks();
  },

  select(id) {
    if (this.selected && this.fixes.has(this.selected)) this.fixes.get(this.selected).el.classList.remove("selected");
    this.selected = id;
    const box = $("props");
    if (!id || !this.fixes.has(id)) { box.hidden = true; return; }
    const { feature, el } = this.fixes.get(id);
    el.classList.add("selected");
    setText("props-title", feature.id);
    const pr = feature.properties || {};
    const rows = [
      ["time", pr.time],
      ["position", pr.lat != null ? `${pr.lat.toFixed(5)}, ${pr.lon.toFixed(5)}` : "–"],
      ["semi-major · minor", pr.semi_major_m != null ? `${fmtMetres(pr.semi_major_m)} · ${fmtMetres(pr.semi_minor_m)}` : "–"],
      ["orientation", pr.orientation_deg != null ? pr.orientation_deg.toFixed(1) + "°" : "–"],
      ["confidence level", pr.confidence_level],
      ["σ east · north", pr.sigma_east_m != null ? `${fmtMetres(pr.sigma_east_m)} · ${fmtMetres(pr.sigma_north_m)} (ρ ${pr.rho})` : "–"],
      ["SNR", pr.snr_db != null ? pr.snr_db.toFixed(1) + " dB" : "–"],
      ["model confidence", pr.model_confidence == null ? "–" : Number(pr.model_confidence).toFixed(3)],
      ["model", `${pr.model ?? "–"} v${pr.model_version ?? "?"}`],
      ["centre frequency", pr.center_freq_hz != null ? fmtMHz(pr.center_freq_hz) : "–"],
      ["sample offset · seq", `${pr.sample_offset ?? "–"} · ${pr.seq ?? "–"}`],
      ["receiver", pr.receiver_id ?? "–"],
    ];
    const t = $("props-table");
    t.replaceChildren(...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td"), b = document.createElement("td");
      a.textContent = k;
      b.textContent = v == null ? "–" : String(v);
      tr.append(a, b);
      return tr;
    }));
    box.hidden = false;
  },
};

function fmtMetres(m) {
  return m >= 10000 ? (m / 1000).toFixed(1) + " km" : m >= 1000 ? (m / 1000).toFixed(2) + " km" : m.toFixed(0) + " m";
}

function setupMapInput() {
  const svg = map.svg;
  const pointers = new Map();
  let downTarget = null, moved = 0, pinch = null;
  svg.addEventListener("pointerdown", (e) => {
    pointers.set(e.pointerId, [e.clientX, e.clientY]);
    svg.setPointerCapture(e.pointerId);
    if (pointers.size === 1) { downTarget = e.target; moved = 0; }
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = Math.hypot(a[0] - b[0], a[1] - b[1]);
    }
    svg.classList.add("dragging");
  });
  svg.addEventListener("pointermove", (e) => {
    const prev = pointers.get(e.pointerId);
    if (!prev) return;
    const cur = [e.clientX, e.clientY];
    pointers.set(e.pointerId, cur);
    if (pointers.size === 1) {
      moved += Math.abs(cur[0] - prev[0]) + Math.abs(cur[1] - prev[1]);
      if (moved > 4) map.pan(cur[0] - prev[0], cur[1] - prev[1]);
    } else if (pointers.size === 2 && pinch) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const r = svg.getBoundingClientRect();
      map.zoom(d / pinch, (a[0] + b[0]) / 2 - r.left, (a[1] + b[1]) / 2 - r.top);
      pinch = d;
      moved = 100;
    }
  });
  const up = (e) => {
    if (!pointers.delete(e.pointerId)) return;
    if (pointers.size === 0) {
      svg.classList.remove("dragging");
      if (moved <= 4 && e.type === "pointerup") {
        const id = downTarget && downTarget.classList && downTarget.classList.contains("fix") ? downTarget.dataset.id : null;
        map.select(id);
      }
      pinch = null;
      downTarget = null;
    }
  };
  svg.addEventListener("pointerup", up);
  svg.addEventListener("pointercancel", up);
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    map.zoom(Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.0015)), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  svg.addEventListener("dblclick", (e) => {
    const r = svg.getBoundingClientRect();
    map.zoom(2, e.clientX - r.left, e.clientY - r.top);
  });
  $("zoom-in").addEventListener("click", () => map.zoom(2));
  $("zoom-out").addEventListener("click", () => map.zoom(0.5));
  $("fit").addEventListener("click", () => { map.follow = true; $("fit").classList.add("on"); map.fit(); });
  $("props-close").addEventListener("click", () => map.select(null));
}

// ---------- state cards ----------

let lastLost = null, lostAt = 0;

function showState(st) {
  const now = Date.parse(st.time) || Date.now();
  // How late this page is behind the feed (same host's clock: meaningful on the receiver
  // itself and for the tests; a phone's clock may differ).
  $("conn").dataset.lagMs = String(Math.round(Date.now() - now));
  setText("rx", st.receiver_id || "");
  const notReady = st.not_ready || "";
  const ready = $("ready");
  ready.dataset.tone = notReady ? "bad" : "ok";
  ready.title = notReady;
  setText("ready", notReady ? "not ready" : "ready");

  const src = st.source || {};
  setState("src-state", st.source_state, st.source_state);
  setText("src-name", src.name || "–");
  setText("src-age", st.last_window_age_seconds == null ? "none yet" : fmtAge(st.last_window_age_seconds));
  setText("src-samples", fmtCount(src.samples_delivered));
  setText("src-lost", `${fmtCount(src.samples_lost)} · ${fmtCount(src.samples_dropped)}`);
  // "Losing samples" while the lost count grew within the last 10 s.
  if (lastLost !== null && src.samples_lost > lastLost) lostAt = now;
  lastLost = src.samples_lost;
  $("src-loss").hidden = !(now - lostAt < 10000);

  const m = st.model || {};
  setText("model-name", m.name ? `${m.name} v${m.version}` : "no model");
  const sinceM = since(m.since, now);
  setText("model-origin", m.name ? `${m.origin || "?"}${sinceM != null ? " · active " + fmtAge(sinceM) : ""}` : "–");
  const ch = m.challenger;
  const ab = ch ? `A/B: ${ch.mode === "shadow" ? "every window shadowed by" : (ch.split * 100).toFixed(0) + " % of windows to"} ${ch.name} v${ch.version}` : "A/B: no challenger";
  setText("model-ab", ab);
  $("model-ab").title = ab;

  const u = st.uplink || {};
  if (!u.enabled) setState("up-state", "off", "disabled");
  else setState("up-state", u.connected ? "ok" : "bad", u.connected ? "connected" : "disconnected");
  setText("up-broker", u.enabled ? u.broker : "no broker configured");
  setText("up-outbox", `${fmtCount(u.outbox_fixes)} fix${u.outbox_fixes === 1 ? "" : "es"} · ${fmtBytes(u.outbox_bytes)}`);
  setText("up-published", u.enabled ? fmtCount(u.published) : "–");
  $("up-error").hidden = !(u.enabled && !u.connected && u.last_error);
  setText("up-error", u.last_error || "");

  const s = st.sync || {};
  const ok = since(s.last_success, now), at = since(s.last_attempt, now);
  if (!s.enabled) setState("sync-state", "off", "disabled");
  else if (s.last_error && (ok == null || at < ok)) setState("sync-state", "bad", "failing");
  else setState("sync-state", ok != null ? "ok" : "warn", ok != null ? "in sync" : "not yet");
  setText("sync-follows", s.enabled ? s.follows || "MLflow" : "no MLflow registry configured");
  setText("sync-success", ok == null ? (s.enabled ? "never" : "–") : fmtAge(ok));
  setText("sync-attempt", at == null ? "–" : fmtAge(at));
  $("sync-error").hidden = !(s.enabled && s.last_error);
  setText("sync-error", s.last_error || "");

  setText("rate-windows", fmtRate(st.windows_per_second));
  setText("rate-fixes", fmtRate(st.fixes_per_second));
  const pct = st.windows_total ? (100 * st.windows_passed_total) / st.windows_total : null;
  setText("rate-gate", pct == null ? "–" : `${pct.toFixed(1)} % of ${fmtCount(st.windows_total)}`);
  setText("rate-fixtotal", fmtCount(st.fixes_total));
  setText("foot-clients", `${st.clients}/${st.max_clients} live pages`);
  setText("foot-version", st.version ? "edged " + st.version : "");
  if (st.recent_fixes) map.cap = st.recent_fixes;
  tokenRequired = !!st.token_required;
  for (const b of ["btn-reload", "btn-rollback"]) $(b).classList.toggle("locked", tokenRequired);
}

let tokenRequired = false;

// ---------- model actions (the only requests that may need the token) ----------

function setupActions() {
  const msg = $("model-msg");
  const say = (text, tone) => { msg.hidden = false; msg.dataset.tone = tone || ""; msg.textContent = text; };
  let pending = null;
  const askToken = (what, why) => {
    pending = what;
    $("token-form").hidden = false;
    $("token").focus();
    say(why, "bad");
  };
  const send = async (what) => {
    const headers = {};
    const tok = sessionStorage.getItem("edged-token");
    if (tokenRequired && !tok) {
      askToken(what, "this receiver requires the API's bearer token for model changes");
      return;
    }
    if (tok) headers.Authorization = "Bearer " + tok;
    say(`${what}…`);
    try {
      const r = await fetch(`/api/v1/model/${what}`, { method: "POST", headers });
      const body = await r.json().catch(() => ({}));
      if (r.status === 401) {
        sessionStorage.removeItem("edged-token");
        askToken(what, body.message || "a bearer token is required");
        return;
      }
      if (!r.ok) { say(`${what}: ${body.message || r.status}`, "bad"); return; }
      const a = body.active || {};
      say(`${what}: ${a.name || "?"} v${a.version || "?"} active`, "ok");
    } catch (e) {
      say(`${what}: ${e.message}`, "bad");
    }
  };
  // Two taps: the first arms the button for 3 s, the second sends.
  const arm = (btn, what) => {
    let timer = null;
    btn.addEventListener("click", () => {
      if (btn.classList.contains("armed")) {
        clearTimeout(timer);
        btn.classList.remove("armed");
        btn.textContent = btn.dataset.label;
        send(what);
        return;
      }
      btn.dataset.label = btn.textContent;
      btn.classList.add("armed");
      btn.textContent = "Sure?";
      timer = setTimeout(() => { btn.classList.remove("armed"); btn.textContent = btn.dataset.label; }, 3000);
    });
  };
  arm($("btn-reload"), "reload");
  arm($("btn-rollback"), "rollback");
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("edged-token", $("token").value.trim());
    $("token").value = "";
    $("token-form").hidden = true;
    if (pending) send(pending);
    pending = null;
  });
}

// ---------- the live feed ----------

const feed = {
  es: null,
  retry: 1000,
  lastEvent: 0,
  buffered: null, // live fixes that arrive while the snapshot loads

  connect() {
    const conn = $("conn");
    const set = (state, text) => { conn.dataset.state = state; conn.lastElementChild.textContent = text; };
    set("connecting", "connecting");
    const es = new EventSource("/ui/events");
    this.es = es;
    es.onopen = () => {
      set("live", "live");
      this.retry = 1000;
      this.loadFixes();
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (e.g. too many pages) or the daemon went away: retry with backoff.
        set("offline", "offline, retrying");
        setTimeout(() => this.connect(), this.retry);
        this.retry = Math.min(this.retry * 2, 30000);
      } else {
        set("connecting", "reconnecting");
      }
    };
    const touch = () => { this.lastEvent = Date.now(); };
    es.addEventListener("meta", (e) => { touch(); wf.setMeta(JSON.parse(e.data)); });
    es.addEventListener("spec", (e) => { touch(); wf.frame(JSON.parse(e.data)); });
    es.addEventListener("state", (e) => { touch(); showState(JSON.parse(e.data)); });
    es.addEventListener("fix", (e) => {
      touch();
      const f = JSON.parse(e.data);
      if (this.buffered) this.buffered.push(f);
      else map.add(f);
    });
  },

  async loadFixes() {
    this.buffered = [];
    try {
      const r = await fetch("/ui/fixes");
      if (!r.ok) throw new Error(`/ui/fixes: ${r.status}`);
      const fc = await r.json();
      for (const f of fc.features || []) map.add(f, false);
    } catch (e) {
      setText("fix-count", "fixes unavailable: " + e.message);
    }
    const live = this.buffered || [];
    this.buffered = null;
    for (const f of live) map.add(f, false);
    firstSnapshot.done();
    map.refresh();
  },
};

// The basemap is drawn once the first snapshot of fixes is in (or 3 s passed), so that the
// projection's origin sits on the data and SVG's single-precision coordinates stay exact
// where the ellipses are.
const firstSnapshot = (() => {
  let done;
  const p = new Promise((resolve) => { done = resolve; });
  setTimeout(done, 3000);
  return { promise: p, done };
})();

function start() {
  drawColourBar();
  wf.resize();
  setupMapInput();
  setupActions();
  const basemap = fetch("/ui/basemap.json").then((r) => {
    if (!r.ok) throw new Error(`/ui/basemap.json: ${r.status}`);
    return r.json();
  });
  feed.connect();
  Promise.all([basemap, firstSnapshot.promise]).then(([bm]) => {
    map.setOrigin(0, 0); // no fix yet: any origin will do
    map.drawBasemap(bm);
    map.basemapReady = true;
    if (map.follow) map.fit(); else map.apply();
  }).catch((e) => setText("fix-count", "basemap unavailable: " + e.message));
  new ResizeObserver(() => { wf.resize(); if (map.view) map.apply(); }).observe(document.body);
  // A feed that went quiet (laptop asleep, network gone) is reopened.
  setInterval(() => {
    if (feed.es && feed.es.readyState === EventSource.OPEN && Date.now() - feed.lastEvent > 10000) {
      feed.es.close();
      feed.connect();
    }
  }, 5000);
}

start();
