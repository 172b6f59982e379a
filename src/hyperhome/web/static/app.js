// HyperHome dashboard: plain JavaScript, no build step, nothing loaded from elsewhere.
//
// Everything live comes through one WebSocket (/api/events): a snapshot of the devices and
// flows first, then every state change, event, reply and flow status. The page asks for frames
// only of the streams its screens show (subscribe/unsubscribe), and the server sends at most ten
// frames a second per stream. Buttons use the REST API (/api/devices/.../commands, /api/flows).
"use strict";

const FILTERS = ["+/$meta", "+/state", "+/$availability", "+/event/#", "+/reply", "$orchestrator/flow/+"];
const TIMELINE_MAX = 200; // entries kept on the page
const FLOWS_SHOWN = 12;
const CHART_MAX_SAMPLES = 5000;
const STALE_MS = 1500; // a screen with no frame for this long shows "no signal"
const RUN_POLL_MS = 400;
const RUN_POLL_MAX = 1500; // 10 minutes of polling at most
const REQUEST_TIMEOUT_MS = 15000; // the server answers 504 after its own 10 s reply timeout

const model = {
  base: "",
  devices: new Map(), // id -> DeviceOut (id, name, kind, room, owner, availability, online, meta, state)
  flows: new Map(), // id -> flow status
  orchestrator: null,
  clock: null, // ISO string of the simulated time, from the server's ticks
  frames: new Map(), // relative stream topic -> {frame, at}
  temps: new Map(), // air conditioner id -> [{t, temp, target, power}]
  streams: new Set(), // stream topics subscribed on the current socket
  screens: new Map(), // screen id -> {figure, canvas, caption, drawn}
};
let socket = null;
let retryMs = 500;

// -- small helpers ---------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const $ = (id) => document.getElementById(id);
const fix = (n, digits = 1) => (typeof n === "number" ? n.toFixed(digits) : "–");
const celsius = (n) => (typeof n === "number" ? `${n.toFixed(1)} °C` : "–");
const hms = (iso) => (typeof iso === "string" && iso.length >= 19 ? iso.slice(11, 19) : "--:--:--");
const hm = (iso) => (typeof iso === "string" && iso.length >= 16 ? iso.slice(11, 16) : "--:--");
const simMs = (iso) => (typeof iso === "string" ? Date.parse(iso) : NaN);
const relative = (topic) => (topic.startsWith(model.base + "/") ? topic.slice(model.base.length + 1) : topic);
const short = (text, max = 140) => (text.length > max ? text.slice(0, max - 1) + "…" : text);

function devicesOf(kind) {
  return [...model.devices.values()].filter((d) => d.kind === kind).sort((a, b) => a.id.localeCompare(b.id));
}
function firstOf(kind, wanted = () => true) {
  return devicesOf(kind).find(wanted) || null;
}
const phone = () => firstOf("phone");
const car = () => firstOf("car");
const callDevice = () => firstOf("tablet") || firstOf("laptop");
const livingAc = () => firstOf("air_conditioner", (d) => d.room === "living") || firstOf("air_conditioner");
const resident = () => phone()?.owner || car()?.owner || callDevice()?.owner || null;

function need(device, what) {
  if (!device) throw Object.assign(new Error(`this home has no ${what}`), { code: "no_device" });
  return device;
}

// -- the REST API -------------------------------------------------------------------------------
async function api(method, path, body) {
  const init = { method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : JSON.stringify(data?.detail ?? response.statusText);
    throw Object.assign(new Error(detail), { code: data?.code || `http_${response.status}`, status: response.status });
  }
  return data;
}

const command = (device, name, args = {}) =>
  api("POST", `/api/devices/${encodeURIComponent(device)}/commands/${encodeURIComponent(name)}`, args);
const startFlow = (kind, args) => api("POST", `/api/flows/${encodeURIComponent(kind)}`, args);

// -- the article's buttons ------------------------------------------------------------------------
const ACTIONS = {
  "rear-camera": async () => {
    const sink = need(callDevice(), "tablet or laptop");
    const source = need(phone(), "phone");
    if (!sink.state?.in_call) await command(sink.id, "call.start", { with: "grandma" });
    const started = await startFlow("camera_handoff", {
      call_device: sink.id, source: { device: source.id, stream: "rear" }, fps: 30, user: resident(),
    });
    return `camera_handoff ${started.flow_id}: ${sink.id}'s call shows ${source.id}/rear`;
  },
  "own-camera": async () => {
    const sink = need(callDevice(), "tablet or laptop");
    if (!sink.state?.in_call) return `${sink.id} is not in a call`;
    const started = await startFlow("camera_handoff", {
      call_device: sink.id, source: { device: sink.id, stream: "front" }, fps: 30, user: resident(),
    });
    return `camera_handoff ${started.flow_id}: back to ${sink.id}/front`;
  },
  precool: async () => {
    const ac = need(livingAc(), "air conditioner");
    const args = { ac: ac.id, target_c: 24, user: resident() };
    const vehicle = car();
    if (vehicle?.state?.gear === "drive") args.car = vehicle.id;
    else args.start_now = true;
    const started = await startFlow("precool", args);
    const how = args.car ? `planned with ${args.car}'s ETA` : "starting now (no trip under way)";
    return `precool ${started.flow_id}: ${ac.id} to 24 °C, ${how}`;
  },
  "car-camera": async () => {
    const viewer = need(phone(), "phone");
    const vehicle = need(car(), "car");
    const started = await startFlow("remote_camera", { viewer: viewer.id, car: vehicle.id, stream: "front", user: resident() });
    return `remote_camera ${started.flow_id}: ${vehicle.id}/front on ${viewer.id}`;
  },
  "network-share": async () => {
    // "When working outside": the tablet leaves its Wi-Fi, then asks for the phone's connection.
    const tablet = need(callDevice(), "tablet or laptop");
    const host = need(phone(), "phone");
    const wasOnWifi = tablet.state?.uplink === "wifi";
    if (wasOnWifi) await command(tablet.id, "simulate.wifi", { link: "down" });
    try {
      const started = await startFlow("network_share", { tablet: tablet.id, phone: host.id, user: resident() });
      return `network_share ${started.flow_id}: ${tablet.id} online through ${host.id}'s hotspot`;
    } catch (error) {
      if (error.code === "unknown_command" && wasOnWifi) await command(tablet.id, "simulate.wifi", { link: "up" });
      const already = error.code === "rejected" ? await activeShare(tablet.id) : null;
      if (!already) throw error;
      return `network_share ${already.id}: ${tablet.id} asked for it itself when its Wi-Fi went (${already.state})`;
    }
  },
  "wifi-up": async () => {
    const tablet = need(callDevice(), "tablet or laptop");
    await command(tablet.id, "simulate.wifi", { link: "up" });
    return `${tablet.id} is back in range of its Wi-Fi`;
  },
  "drive-home": async () => {
    const vehicle = need(car(), "car");
    const km = driveHomeKm();
    if (!km) return `${vehicle.id} is at home already`;
    const from = vehicle.state?.location;
    const reply = await command(vehicle.id, "drive.start", { destination: "home", distance_km: km, profile: "mixed" });
    return `${vehicle.id} drives home from ${from} (${km} km), ETA ${hms(reply.result?.eta)}`;
  },
  park: async () => {
    const vehicle = need(car(), "car");
    if (vehicle.state?.gear === "drive") await command(vehicle.id, "park");
    await command(vehicle.id, "lock");
    return `${vehicle.id} parked and locked`;
  },
};

/** How far home is for the car's owner: their phone's distance from home (it knows the places). */
function driveHomeKm() {
  const vehicle = car();
  if (!vehicle || vehicle.state?.location === "home" || vehicle.state?.gear === "drive") return 0;
  const owners = devicesOf("phone").filter((d) => !vehicle.owner || d.owner === vehicle.owner);
  const km = owners.map((d) => d.state?.distance_home_km).find((n) => typeof n === "number" && n > 0);
  return km ? Math.round(km * 10) / 10 : 0;
}

/** What each button needs of the home: a button whose devices this home lacks is hidden. */
const NEEDS = {
  "rear-camera": () => callDevice() && phone(),
  "own-camera": () => callDevice(),
  precool: () => livingAc() && resident(),
  "car-camera": () => phone() && car(),
  "network-share": () => callDevice() && phone(),
  "wifi-up": () => callDevice(),
  "drive-home": () => car() && driveHomeKm() > 0,
  park: () => car(),
};

function renderActions() {
  for (const button of document.querySelectorAll("button[data-action]")) {
    const can = NEEDS[button.dataset.action];
    button.hidden = can ? !can() : false;
  }
  const km = driveHomeKm();
  $("btn-drive-home").textContent = km ? `Drive home (${km} km)` : "Drive home";
  $("car-panel").hidden = !car();
}

/** A network_share flow for ``tablet`` that is pending or running (a device may ask for one itself). */
async function activeShare(tablet) {
  for (let i = 0; i < 10; i++) {
    const found = [...model.flows.values()].find(
      (f) => f.kind === "network_share" && f.args?.tablet === tablet && ["pending", "running"].includes(f.state));
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100)); // its status may still be on the way
  }
  return null;
}

async function runAction(button) {
  const name = button.dataset.action;
  const out = $("action-result");
  button.disabled = true;
  out.dataset.action = name;
  out.dataset.ok = "";
  out.textContent = `${button.textContent}…`;
  try {
    out.textContent = await ACTIONS[name]();
    out.dataset.ok = "true";
  } catch (error) {
    out.dataset.ok = "false";
    out.dataset.code = error.code || "";
    out.textContent = error.code === "unknown_command"
      ? `The orchestrator does not run this flow (yet): ${error.message}`
      : `${button.textContent}: ${error.code ? error.code + ": " : ""}${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// -- the WebSocket ---------------------------------------------------------------------------------
function connect() {
  setConnection("connecting");
  const query = FILTERS.map((f) => "topic=" + encodeURIComponent(f)).join("&");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/events?${query}`);
  socket = ws;
  model.streams = new Set();
  ws.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(message);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setConnection("closed");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  };
}

function setConnection(state) {
  const node = $("conn");
  node.dataset.state = state;
  node.textContent = { connecting: "connecting", live: "live", closed: "reconnecting" }[state];
}

function handle(message) {
  switch (message.type) {
    case "hello": return onHello(message);
    case "state": case "meta": case "availability": return onDevice(message);
    case "event": return onEvent(message);
    case "reply": return onReply(message);
    case "flow": return onFlow(message.data, true);
    case "frame":
      model.frames.set(relative(message.topic), { frame: message.data, at: performance.now() });
      return;
    case "tick":
      model.clock = message.now;
      renderClock();
      renderChart();
      return;
    case "error":
      console.warn("events:", message.message);
      return;
    default:
      return;
  }
}

function onHello(hello) {
  retryMs = 500;
  model.base = hello.base;
  document.title = `HyperHome · ${hello.name}`;
  $("home-name").textContent = hello.name;
  model.devices = new Map((hello.devices || []).map((d) => [d.id, d]));
  model.flows = new Map();
  for (const flow of hello.flows || []) onFlow(flow, false);
  model.orchestrator = hello.orchestrator;
  model.clock = hello.clock?.now || model.clock;
  for (const device of model.devices.values()) sampleTemperature(device);
  setConnection("live");
  renderAll();
}

function onDevice(message) {
  if (message.device.startsWith("$")) {
    if (message.device === "$orchestrator" && message.type === "availability") {
      model.orchestrator = message.data;
      renderClock();
    }
    return;
  }
  let device = model.devices.get(message.device);
  const isNew = !device;
  if (isNew) {
    device = { id: message.device, availability: null, online: false, meta: null, state: null };
    model.devices.set(device.id, device);
  }
  if (message.type === "state" && message.data && typeof message.data === "object") {
    device.state = message.data;
    sampleTemperature(device);
  } else if (message.type === "meta" && message.data && typeof message.data === "object") {
    Object.assign(device, { meta: message.data, name: message.data.name, kind: message.data.kind, room: message.data.room, owner: message.data.owner });
  } else if (message.type === "availability") {
    device.availability = message.data;
    device.online = message.data === "online";
    if (!isNew) timeline({ ts: model.clock, who: device.id, what: message.data, kind: "availability" });
  }
  if (isNew || message.type === "meta") renderRooms();
  else renderTile(device);
  renderScreens();
  renderCar();
  renderChart();
  if (device.kind === "phone" || device.kind === "car" || isNew || message.type === "meta") renderActions();
}

function onEvent(message) {
  const data = message.data && typeof message.data === "object" ? message.data : {};
  const { ts, because, ...fields } = data;
  // an automation says which rule fired and why; its trigger's payload is in the rule's terms already
  const text = message.name === "automation_fired" ? fields.alias || fields.rule || "" : describe(fields);
  timeline({ ts, who: message.device, what: message.name, text, because, kind: "event" });
}

function onReply(message) {
  const reply = message.data;
  if (!reply || reply.ok !== false) return;
  const text = `${reply.command}: ${reply.error?.code}: ${reply.error?.message}`;
  timeline({ ts: reply.ts, who: message.device, what: "error reply", text, kind: "error" });
}

function onFlow(status, live) {
  if (!status || typeof status !== "object" || !status.id) return;
  const before = model.flows.get(status.id);
  model.flows.set(status.id, status);
  if (!live) return;
  if (!before || before.state !== status.state) {
    const ts = status.ended || status.started || model.clock;
    const text = status.error || flowNote(status) || "";
    timeline({ ts, who: "$orchestrator", what: `${status.kind} ${status.id} ${status.state}`, text, kind: "flow" });
  }
  renderFlows();
  renderScreens();
  renderChart();
}

function syncStreams() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const wanted = new Set(screenPlans().map((s) => s.topic).filter(Boolean));
  const add = [...wanted].filter((t) => !model.streams.has(t));
  const drop = [...model.streams].filter((t) => !wanted.has(t));
  if (!add.length && !drop.length) return;
  socket.send(JSON.stringify({ subscribe: add, unsubscribe: drop }));
  model.streams = wanted;
}

// -- rendering -----------------------------------------------------------------------------------------
function renderAll() {
  renderActions();
  renderClock();
  renderRooms();
  renderScreens();
  renderCar();
  renderChart();
  renderFlows();
}

function renderClock() {
  $("sim-clock").textContent = model.clock ? `${hms(model.clock)} UTC` : "--:--:--";
  const node = $("orchestrator");
  node.dataset.state = model.orchestrator || "unknown";
  node.textContent = model.orchestrator || "?";
}

// Rooms and tiles: what each kind shows, as a table of describers (fields that are absent are skipped).
const SUMMARY = {
  air_conditioner: (s) => [
    ["power", s.power ? `on · ${s.mode}` : "off"],
    ["room", celsius(s.room_temp_c)],
    ["target", celsius(s.target_c)],
    ["outdoor", celsius(s.outdoor_temp_c)],
    s.minutes_to_target != null && ["to target", `${fix(s.minutes_to_target)} min`],
    ["energy", `${fix(s.energy_kwh, 2)} kWh`],
  ],
  car: (s) => [
    ["gear", `${s.gear}${s.locked ? " · locked" : ""}`],
    ["where", s.destination ? `${s.location} → ${s.destination}` : s.location],
    s.gear === "drive" && ["speed", `${fix(s.speed_kmh, 0)} km/h`],
    s.eta && ["ETA", `${hm(s.eta)} (${fix(s.minutes_to_arrival, 0)} min)`],
    ["battery", `${fix(s.battery_pct, 0)} % · ${fix(s.range_km, 0)} km`],
    (s.streaming || []).length > 0 && ["cameras", s.streaming.join(", ")],
  ],
  phone: (s) => [
    ["location", s.location],
    ["battery", `${fix(s.battery_pct, 0)} %${s.charging ? " · charging" : ""}`],
    s.bars != null && ["signal", `${s.bars} bars`],
    ["hotspot", s.hotspot?.on ? `on · ${(s.hotspot.clients || []).map((c) => (typeof c === "string" ? c : c.id)).join(", ") || "no client"}` : "off"],
    ...Object.entries(s.streaming || {}).filter(([, v]) => v && v.length).map(([k, v]) => [`${k} camera`, `→ ${v.join(", ")}`]),
    s.data_used_mb != null && ["data", `${fix(s.data_used_mb, 1)} MB`],
  ],
  tablet: (s) => calling(s),
  laptop: (s) => calling(s),
  camera: (s) => [
    ["privacy", s.privacy ? "on" : "off"],
    ["detection", s.detection ? "on" : "off"],
    ["viewers", (s.viewers || []).join(", ") || "none"],
    s.recording && ["recording", s.recording],
    ["clips", (s.clips || []).length],
  ],
  lock: (s) => [
    ["bolt", s.jammed ? "jammed" : s.locked ? "locked" : "unlocked"],
    ["door", s.door_open ? "open" : "closed"],
    s.wrong_pins > 0 && ["wrong PINs", s.wrong_pins],
    s.pin_locked_until && ["keypad locked", `until ${hms(s.pin_locked_until)}`],
    ["battery", `${fix(s.battery_pct, 1)} %`],
  ],
  speaker: (s) => [
    ["volume", `${s.volume_pct} %${s.muted ? " (muted)" : ""}`],
    ["microphone", s.microphone ? "on" : "off"],
    s.last_spoken && ["said", `“${s.last_spoken}”`],
  ],
};

function calling(s) {
  return [
    ["call", s.in_call ? `with ${s.call_with || "someone"}` : "no call"],
    s.in_call && s.source && ["showing", `${s.source.device}/${s.source.stream}${s.blank ? " (blank)" : ""}`],
    s.in_call && ["frames", s.frames_received],
    ["network", s.online === false ? "offline" : `${s.uplink}${s.hotspot_host ? ` via ${s.hotspot_host}` : ""}`],
  ];
}

function generic(state) {
  return Object.entries(state)
    .filter(([k, v]) => k !== "ts" && k !== "seq" && (v === null || typeof v !== "object"))
    .slice(0, 6)
    .map(([k, v]) => [k, v === null ? "–" : String(v)]);
}

function tileRows(device) {
  const state = device.state || {};
  const describe = SUMMARY[device.kind];
  try {
    return (describe ? describe(state) : generic(state)).filter(Boolean);
  } catch {
    return generic(state);
  }
}

function renderTile(device) {
  const tile = document.getElementById(`tile-${device.id}`);
  if (!tile) return renderRooms();
  tile.replaceWith(buildTile(device));
}

function buildTile(device) {
  return el("article", { class: "tile", id: `tile-${device.id}`, "data-device": device.id, "data-online": String(!!device.online) },
    el("header", {},
      el("span", {}, el("span", { class: "name" }, device.name || device.id), " ", el("span", { class: "kind" }, device.kind || "?")),
      el("span", { class: "avail" }, device.availability || "unknown")),
    el("dl", {}, tileRows(device).map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])));
}

function renderRooms() {
  const groups = new Map();
  for (const device of [...model.devices.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    const room = device.room || "on the move";
    if (!groups.has(room)) groups.set(room, []);
    groups.get(room).push(device);
  }
  const rooms = [...groups.keys()].sort((a, b) => (a === "on the move") - (b === "on the move") || a.localeCompare(b));
  $("rooms").replaceChildren(...rooms.map((room) =>
    el("section", { class: "room", "data-room": room },
      el("h3", {}, room),
      el("div", { class: "tiles" }, groups.get(room).map(buildTile)))));
}

// -- screens: the picture each calling device (and the phone viewing a car camera) shows ----------
function screenPlans() {
  const plans = [];
  for (const device of [...devicesOf("tablet"), ...devicesOf("laptop")]) {
    const s = device.state || {};
    const source = s.in_call && s.source ? s.source : null;
    plans.push({
      id: device.id,
      title: device.name || device.id,
      source,
      topic: source ? `${source.device}/stream/${source.stream}` : null,
      idle: device.online === false ? "offline" : s.in_call ? "waiting for the call's picture" : "no call",
      note: s.in_call ? `in a call with ${s.call_with || "someone"}` : "",
    });
  }
  for (const flow of model.flows.values()) {
    if (flow.kind !== "remote_camera" || !["pending", "running"].includes(flow.state) || !flow.result?.topic) continue;
    const topic = relative(flow.result.topic);
    const [device, , stream] = topic.split("/");
    plans.push({
      id: `${flow.args?.viewer || "viewer"}-${flow.id}`,
      title: `${flow.args?.viewer || "phone"} (${flow.id})`,
      source: { device, stream },
      topic,
      idle: "waiting for the car's camera",
      note: `${flow.kind} ${flow.id}`,
    });
  }
  return plans;
}

function renderScreens() {
  const plans = screenPlans();
  const container = $("screens");
  const keep = new Set(plans.map((p) => p.id));
  for (const [id, screen] of model.screens) {
    if (!keep.has(id)) {
      screen.figure.remove();
      model.screens.delete(id);
    }
  }
  for (const plan of plans) {
    let screen = model.screens.get(plan.id);
    if (!screen) {
      const canvas = el("canvas", { width: 320, height: 180 });
      const caption = el("span", { class: "caption-line" });
      const heading = el("b", {});
      const note = el("span", { class: "dim small" });
      const figure = el("figure", { class: "screen", id: `screen-${plan.id}`, "data-device": plan.id },
        canvas, el("figcaption", {}, heading, " ", note, el("br", {}), caption));
      container.append(figure);
      screen = { figure, canvas, caption, heading, note, drawn: "" };
      model.screens.set(plan.id, screen);
    }
    screen.plan = plan;
    screen.heading.textContent = plan.title;
    screen.note.textContent = plan.note;
    screen.figure.dataset.source = plan.source ? `${plan.source.device}/${plan.source.stream}` : "";
  }
  syncStreams();
}

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

function drawScreens() {
  const now = performance.now();
  for (const screen of model.screens.values()) {
    const plan = screen.plan;
    const entry = plan?.topic ? model.frames.get(plan.topic) : null;
    const live = !!entry && now - entry.at < STALE_MS;
    const key = `${plan?.topic}|${entry?.frame?.seq}|${live}`;
    if (key === screen.drawn) continue;
    screen.drawn = key;
    const ctx = screen.canvas.getContext("2d");
    const { width: w, height: h } = screen.canvas;
    const figure = screen.figure;
    figure.dataset.live = String(live);
    if (!entry) {
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, w, h);
      ctx.fillStyle = "#8a96a6";
      ctx.font = "14px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(plan?.idle || "no call", w / 2, h / 2);
      figure.dataset.frameSource = "";
      figure.dataset.frameSeq = "";
      screen.caption.textContent = plan?.topic ? `waiting for frames from ${plan.source.device}/${plan.source.stream}` : "";
      continue;
    }
    const frame = entry.frame;
    testPattern(ctx, w, h, frame, live);
    figure.dataset.frameSource = frame.source;
    figure.dataset.frameStream = frame.stream;
    figure.dataset.frameSeq = String(frame.seq);
    screen.caption.textContent =
      `${frame.source} · ${frame.stream} · frame ${frame.seq} · ${fix(frame.fps, 0)} fps · ${frame.width}×${frame.height}` +
      (live ? "" : " · no signal");
  }
  requestAnimationFrame(drawScreens);
}

/** A synthetic picture from frame metadata: colour bars in the source's own hues, a bar and a ball
 *  that move with the frame counter, and the counter itself. */
function testPattern(ctx, w, h, frame, live) {
  const base = hue(`${frame.source}/${frame.stream}`);
  const bars = 7;
  for (let i = 0; i < bars; i++) {
    ctx.fillStyle = `hsl(${(base + i * 360 / bars) % 360} 65% ${live ? 45 : 18}%)`;
    ctx.fillRect(Math.floor(i * w / bars), 0, Math.ceil(w / bars), h * 0.72);
  }
  ctx.fillStyle = live ? "#111" : "#050505";
  ctx.fillRect(0, h * 0.72, w, h * 0.28);
  const seq = frame.seq || 0;
  const x = (seq * 4) % w;
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(x, 0, 6, h * 0.72);
  const angle = (seq / (frame.fps || 30)) * Math.PI;
  ctx.beginPath();
  ctx.arc(w / 2 + Math.cos(angle) * w * 0.3, h * 0.36 + Math.sin(angle) * h * 0.2, 10, 0, 2 * Math.PI);
  ctx.fillStyle = "#fff";
  ctx.fill();
  ctx.fillStyle = "#fff";
  ctx.font = "bold 15px system-ui, sans-serif";
  ctx.textAlign = "left";
  ctx.fillText(`${frame.source} · ${frame.stream}`, 10, h * 0.72 + 20);
  ctx.font = "13px ui-monospace, monospace";
  ctx.fillText(`#${seq}  ${fix(frame.fps, 0)} fps`, 10, h * 0.72 + 40);
  ctx.textAlign = "right";
  ctx.fillStyle = live ? "#3fb950" : "#f85149";
  ctx.fillText(live ? "● LIVE" : "NO SIGNAL", w - 10, h * 0.72 + 20);
}

// -- the car --------------------------------------------------------------------------------------
function renderCar() {
  const vehicle = car();
  const box = $("car");
  if (!vehicle) {
    box.replaceChildren(el("p", { class: "dim" }, "This home has no car."));
    return;
  }
  const s = vehicle.state || {};
  const driving = s.gear === "drive";
  const done = driving && s.trip_km ? Math.min(100, (100 * (s.driven_km || 0)) / s.trip_km) : 0;
  const rows = [
    ["status", driving ? `driving to ${s.destination}` : `${s.gear}${s.locked ? ", locked" : ""} at ${s.location}`],
    driving && ["trip", `${fix(s.driven_km, 1)} of ${fix(s.trip_km, 1)} km · ${fix(s.speed_kmh, 0)} km/h`],
    driving && ["ETA", `${hms(s.eta)} · in ${fix(s.minutes_to_arrival, 0)} min`],
    ["battery", `${fix(s.battery_pct, 0)} % · ${fix(s.range_km, 0)} km range`],
    ["cabin", `${celsius(s.cabin_temp_c)}${s.climate_on ? " · climate on" : ""}`],
  ].filter(Boolean);
  box.replaceChildren(
    el("dl", { class: "trip", id: "car-trip", "data-gear": s.gear || "", "data-eta": s.eta || "" },
      rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("div", { class: "bar", title: `${fix(done, 0)} % of the trip` }, el("span", { style: `width: ${done}%` })));
}

// -- the temperature curve --------------------------------------------------------------------------
function sampleTemperature(device) {
  const s = device.state;
  if (device.kind !== "air_conditioner" || !s || typeof s.room_temp_c !== "number") return;
  const t = simMs(s.ts);
  if (Number.isNaN(t)) return;
  const samples = model.temps.get(device.id) || [];
  const last = samples[samples.length - 1];
  if (last && last.t === t) samples.pop();
  if (!last || t >= last.t) samples.push({ t, temp: s.room_temp_c, target: s.target_c, power: !!s.power });
  if (samples.length > CHART_MAX_SAMPLES) samples.splice(0, samples.length - CHART_MAX_SAMPLES);
  model.temps.set(device.id, samples);
}

function chartedAc() {
  const precools = [...model.flows.values()].filter((f) => f.kind === "precool").sort(byFlowId);
  const latest = precools[precools.length - 1];
  const id = latest?.args?.ac || livingAc()?.id;
  return { ac: id ? model.devices.get(id) : null, flow: latest };
}

function renderChart() {
  const canvas = $("temp-chart");
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  const { ac, flow } = chartedAc();
  const samples = ac ? model.temps.get(ac.id) || [] : [];
  canvas.dataset.samples = String(samples.length);
  canvas.dataset.device = ac?.id || "";
  if (!ac || !samples.length) {
    $("temp-caption").textContent = "No air conditioner reported a temperature yet.";
    return;
  }
  const now = Math.max(samples[samples.length - 1].t, simMs(model.clock) || 0);
  // a pre-cool's plan is drawn ahead of time: when the unit starts and when she arrives
  const plan = flow && ["pending", "running"].includes(flow.state) ? flow.result || {} : {};
  const marks = [["AC on", simMs(plan.planned_start)], ["arrival", simMs(plan.arrival)]].filter(([, t]) => t > now);
  const end = Math.max(now, ...marks.map(([, t]) => t));
  const start = Math.min(samples[0].t, end - 60000);
  const goal = marks.length ? flow.args?.target_c : undefined;
  const values = [...samples.flatMap((p) => [p.temp, p.target]), goal].filter((v) => typeof v === "number");
  const lo = Math.floor(Math.min(...values) - 0.5);
  const hi = Math.ceil(Math.max(...values) + 0.5);
  const pad = { l: 38, r: 8, t: 8, b: 20 };
  const x = (t) => pad.l + ((t - start) / (end - start)) * (w - pad.l - pad.r);
  const y = (v) => pad.t + ((hi - v) / (hi - lo)) * (h - pad.t - pad.b);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#8a96a6";
  ctx.strokeStyle = "#263040";
  ctx.lineWidth = 1;
  const step = hi - lo > 8 ? 2 : 1;
  for (let v = lo; v <= hi; v += step) {
    ctx.beginPath();
    ctx.moveTo(pad.l, y(v));
    ctx.lineTo(w - pad.r, y(v));
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(`${v}°`, pad.l - 4, y(v) + 4);
  }
  ctx.textAlign = "left";
  ctx.fillText(hm(new Date(start).toISOString()), pad.l, h - 5);
  ctx.textAlign = "right";
  ctx.fillText(hm(new Date(end).toISOString()), w - pad.r, h - 5);
  // the unit's on-periods as a band along the bottom
  ctx.fillStyle = "rgba(88,166,255,0.35)";
  samples.forEach((p, i) => {
    if (!p.power) return;
    const until = i + 1 < samples.length ? samples[i + 1].t : now;
    ctx.fillRect(x(p.t), h - pad.b - 4, Math.max(1, x(until) - x(p.t)), 4);
  });
  // target (dashed) and room temperature (steps: the sensor reports 0.1 °C changes)
  const path = (pick, colour, dashed) => {
    ctx.beginPath();
    ctx.setLineDash(dashed ? [5, 4] : []);
    ctx.strokeStyle = colour;
    ctx.lineWidth = dashed ? 1.5 : 2.2;
    samples.forEach((p, i) => {
      const v = pick(p);
      if (i === 0) ctx.moveTo(x(p.t), y(v));
      else ctx.lineTo(x(p.t), y(v));
      const until = i + 1 < samples.length ? samples[i + 1].t : now;
      ctx.lineTo(x(until), y(v));
    });
    ctx.stroke();
    ctx.setLineDash([]);
  };
  path((p) => p.target, "#8a96a6", true);
  path((p) => p.temp, "#ff6a00", false);
  if (typeof goal === "number") {
    ctx.strokeStyle = "#58a6ff";
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(x(Math.min(...marks.map(([, t]) => t))), y(goal));
    ctx.lineTo(x(end), y(goal));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.fillStyle = "#8a96a6";
  [["now", now], ...marks].forEach(([label, t], i) => {
    ctx.strokeStyle = label === "now" ? "#3a4656" : "#58a6ff";
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(x(t), pad.t);
    ctx.lineTo(x(t), h - pad.b);
    ctx.stroke();
    ctx.setLineDash([]);
    if (label === "now") return; // the dot on the curve marks it
    const right = x(t) > w * 0.7;
    ctx.textAlign = right ? "right" : "left";
    ctx.fillText(`${label} ${hm(new Date(t).toISOString())}`, x(t) + (right ? -4 : 4), pad.t + 10 + (i % 2) * 13);
  });
  const latest = samples[samples.length - 1];
  ctx.fillStyle = "#ff6a00";
  ctx.beginPath();
  ctx.arc(x(now), y(latest.temp), 3.5, 0, 2 * Math.PI);
  ctx.fill();
  ctx.textAlign = x(now) > w * 0.7 ? "right" : "left";
  ctx.fillText(celsius(latest.temp), x(now) + (x(now) > w * 0.7 ? -6 : 6), y(latest.temp) - 6);
  const flowText = flow ? ` · precool ${flow.id} ${flow.state}${flowNote(flow) ? ` (${flowNote(flow)})` : ""}` : "";
  $("temp-caption").textContent =
    `${ac.name || ac.id}: ${celsius(latest.temp)} now, target ${celsius(latest.target)}, unit ${latest.power ? "on" : "off"}${flowText}`;
}

// -- flows -----------------------------------------------------------------------------------------
function byFlowId(a, b) {
  const n = (f) => Number(String(f.id).split("-").pop()) || 0;
  return (a.started || "").localeCompare(b.started || "") || n(a) - n(b);
}

function flowNote(flow) {
  const r = flow.result || {};
  if (flow.error) return flow.error;
  if (r.ended_because) return `ended: ${r.ended_because}`;
  switch (flow.kind) {
    case "camera_handoff":
      return r.first_frame_s != null ? `first frame after ${fix(r.first_frame_s, 2)} s, largest gap ${fix(r.max_gap_frames, 1)} frames` : "";
    case "precool":
      if (r.room_temp_c_at_arrival != null) return `${celsius(r.room_temp_c_at_arrival)} at arrival`;
      if (r.started_at) return `AC started ${hms(r.started_at)}`;
      if (r.planned_start) return `AC starts ${hms(r.planned_start)}, arrival ${hms(r.arrival)}`;
      return "";
    case "remote_camera":
      return r.topic ? `viewing ${relative(r.topic)}` : "";
    default:
      return Object.keys(r).length ? describe(r) : "";
  }
}

function renderFlows() {
  const list = $("flows");
  const flows = [...model.flows.values()].sort(byFlowId).reverse().slice(0, FLOWS_SHOWN);
  if (!flows.length) {
    list.replaceChildren(el("li", { class: "dim empty" }, "No flow yet."));
    return;
  }
  list.replaceChildren(...flows.map((flow) => {
    const active = flow.state === "pending" || flow.state === "running";
    const note = flowNote(flow);
    return el("li", { "data-flow-id": flow.id, "data-kind": flow.kind, "data-state": flow.state },
      el("div", { class: "flow-head" },
        el("span", {}, el("b", {}, flow.kind), " ", el("span", { class: "dim" }, flow.id),
          flow.user ? el("span", { class: "dim" }, ` · for ${flow.user}`) : null),
        el("span", {}, el("span", { class: "flow-state" }, flow.state), " ",
          active ? el("button", { onclick: () => cancelFlow(flow.id), title: "DELETE /api/flows/" + flow.id }, "cancel") : null)),
      (flow.steps || []).length
        ? el("div", { class: "flow-steps" }, flow.steps.map((step, i) => [
            i ? " · " : "",
            el("span", { class: `step-${step.state}` }, `${step.name} ${{ done: "✓", running: "…", failed: "✗" }[step.state] || ""}`),
          ]))
        : null,
      note ? el("div", { class: "flow-note" + (flow.error ? " error" : "") }, note) : null);
  }));
}

async function cancelFlow(id) {
  const out = $("action-result");
  try {
    const status = await api("DELETE", `/api/flows/${encodeURIComponent(id)}`);
    out.dataset.ok = "true";
    out.textContent = `${status.kind} ${id} ${status.state}`;
  } catch (error) {
    out.dataset.ok = "false";
    out.textContent = `cancel ${id}: ${error.code}: ${error.message}`;
  }
}

// -- the timeline ----------------------------------------------------------------------------------------
function describe(fields) {
  const parts = Object.entries(fields || {}).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
  return short(parts.join(" "));
}

function timeline({ ts, who, what, text, because, kind }) {
  const list = $("timeline");
  const item = el("li", { "data-kind": kind, "data-device": who, "data-name": what },
    el("time", {}, hms(ts || model.clock)),
    el("span", {},
      el("span", { class: "who" }, who),
      el("span", { class: "what" }, what),
      text ? el("span", { class: "text" }, text) : null,
      because ? el("span", { class: "because" }, `because ${because}`) : null));
  list.prepend(item);
  while (list.children.length > TIMELINE_MAX) list.lastElementChild.remove();
}

// -- scenario runs ------------------------------------------------------------------------------------------
async function loadScenarios() {
  const list = $("scenarios");
  let scenarios;
  try {
    scenarios = await api("GET", "/api/scenarios");
  } catch (error) {
    list.replaceChildren(el("li", { class: "dim" }, `Scenario runs are not available here (${error.message}).`));
    return;
  }
  list.replaceChildren(...scenarios.map((s) => {
    const status = el("span", { class: "run-status" }, s.article);
    const item = el("li", { "data-scenario": s.name },
      el("span", {}, el("b", {}, s.title), status),
      el("button", { onclick: (e) => runScenario(s.name, e.currentTarget, item, status) }, "Run"));
    return item;
  }));
}

async function runScenario(name, button, item, status) {
  button.disabled = true;
  try {
    let run = await api("POST", `/api/scenarios/${encodeURIComponent(name)}/runs`, {});
    for (let i = 0; i < RUN_POLL_MAX && (run.status === "queued" || run.status === "running"); i++) {
      showRun(run, item, status);
      await new Promise((resolve) => setTimeout(resolve, RUN_POLL_MS));
      run = await api("GET", `/api/runs/${encodeURIComponent(run.id)}`);
    }
    showRun(run, item, status);
  } catch (error) {
    item.dataset.status = "error";
    status.textContent = `${error.code}: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function showRun(run, item, status) {
  item.dataset.status = run.status;
  item.dataset.run = run.id;
  const last = run.timeline.length ? run.timeline[run.timeline.length - 1].text : "";
  if (run.status === "queued") status.textContent = `${run.id} queued`;
  else if (run.status === "running") status.textContent = `${run.id} step ${run.step}/${run.steps}: ${run.step_title || ""} · ${short(last, 60)}`;
  else if (run.status === "error") status.textContent = `${run.id} could not run: ${run.error}`;
  else {
    const r = run.result || {};
    const failure = r.failure ? ` · ${short(r.failure, 120)}` : "";
    status.textContent = `${run.id} ${run.status}: ${run.outcomes.length}/${run.steps} steps, ${fix(r.sim_s / 60, 1)} simulated min in ${fix(r.wall_s, 2)} s, golden ${r.golden}${failure}`;
  }
}

// -- start -------------------------------------------------------------------------------------------------
function start() {
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => runAction(button));
  }
  connect();
  loadScenarios();
  requestAnimationFrame(drawScreens);
}

start();
