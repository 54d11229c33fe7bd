// trackgw's live page: sign in, pick a circle, see it live. Plain modules, no framework;
// Leaflet (from the npm registry, bundled by `make web`) draws the map. Nothing is fetched
// from anywhere but this gateway: the base map's tiles come from the `web.tile_url` setting,
// and with none the map is a plain background with a scale.

const $ = (sel) => document.querySelector(sel);
const state = {
  token: sessionStorage.getItem("trackgw.token"),
  config: { tile_url: "", tile_attribution: "" },
  circle: null,
  map: null,
  markers: new Map(), // device key -> {marker, accuracy, label, data}
  placesLayer: null,
  trackLayer: null,
  stream: null,
  lastEventId: null,
  members: [],
  pendingPlace: null,
};

// --- the member API ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || problem.error || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { detail: text }; }
  if (!resp.ok) {
    if (resp.status === 401 && path !== "/v1/tokens") signOut();
    throw new ApiError(resp.status, data);
  }
  return data;
}

const items = (data) => (Array.isArray(data) ? data : data.items || data.features || []);

// --- sign in -------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  $("#sign-in-error").textContent = "";
  try {
    const out = await api("POST", "/v1/tokens", {
      email: $("#email").value,
      password: $("#password").value,
      name: "live page",
    });
    state.token = out.token;
    sessionStorage.setItem("trackgw.token", out.token);
    await start();
  } catch (err) {
    $("#sign-in-error").textContent = err.message || "sign-in failed";
  }
}

function signOut() {
  state.token = null;
  sessionStorage.removeItem("trackgw.token");
  if (state.stream) state.stream.close();
  $("#view").hidden = true;
  $("#circle-form").hidden = true;
  $("#sign-out").hidden = true;
  $("#plan").hidden = true;
  $("#sign-in").hidden = false;
}

// --- the map -------------------------------------------------------------------------------

function ensureMap() {
  if (state.map) return;
  const map = L.map("map", { zoomControl: true, attributionControl: true });
  if (state.config.tile_url) {
    L.tileLayer(state.config.tile_url, {
      maxZoom: 19,
      attribution: state.config.tile_attribution || "",
    }).addTo(map);
  }
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  map.setView([20, 0], 2);
  map.on("click", (e) => offerPlace(e.latlng));
  state.map = map;
  state.placesLayer = L.layerGroup().addTo(map);
  state.trackLayer = L.layerGroup().addTo(map);
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function showPosition(p) {
  // p: {device_id, device, member, name?, time, lat, lon, accuracy_m, battery_pct}
  if (p.lat == null || p.lon == null) return;
  const key = String(p.device_id);
  const latlng = [p.lat, p.lon];
  let m = state.markers.get(key);
  if (!m) {
    const marker = L.marker(latlng, { title: p.name || p.device, keyboard: true });
    marker.getElement?.()?.setAttribute("data-device", key);
    const accuracy = L.circle(latlng, { radius: p.accuracy_m || 0, weight: 1, fillOpacity: 0.1 });
    marker.addTo(state.map);
    accuracy.addTo(state.map);
    m = { marker, accuracy, data: p };
    state.markers.set(key, m);
    marker.getElement()?.setAttribute("data-device", key);
  }
  m.data = { ...m.data, ...p };
  m.marker.setLatLng(latlng);
  m.accuracy.setLatLng(latlng);
  m.accuracy.setRadius(p.accuracy_m || 0);
  const battery = p.battery_pct != null ? ` · battery ${Math.round(p.battery_pct)}%` : "";
  const who = memberName(m.data.member) || m.data.member_name || m.data.member || "";
  m.marker.bindTooltip(`${escapeHtml(m.data.name || deviceName(key) || m.data.device || key)}${who ? " (" + escapeHtml(who) + ")" : ""}`, {
    permanent: true, direction: "top", className: "marker-label", offset: [-15, -12],
  });
  m.marker.bindPopup(
    `<strong>${escapeHtml(m.data.name || deviceName(key) || m.data.device || key)}</strong><br>${escapeHtml(who)}<br>` +
    `${escapeHtml(ago(p.time))}${escapeHtml(battery)}` +
    (p.accuracy_m ? `<br>± ${Math.round(p.accuracy_m)} m` : ""),
  );
  const el = m.marker.getElement();
  if (el) {
    el.dataset.device = key;
    el.dataset.lat = String(p.lat);
    el.dataset.lon = String(p.lon);
  }
  updateMemberSeen(key, p.time);
}

function memberName(account) {
  const mem = state.members.find((x) => x.account === account);
  return mem ? mem.name || mem.account : "";
}

function ownerName(deviceId) {
  for (const mem of state.members) {
    for (const d of mem.devices || []) if (String(d.id) === String(deviceId)) return mem.name || mem.account;
  }
  return "";
}

function deviceName(id) {
  for (const mem of state.members) {
    for (const d of mem.devices || []) if (String(d.id) === String(id)) return d.name || `${d.protocol} ${d.id}`;
  }
  return "";
}

function latestOf(d, mem) {
  const l = d.latest;
  return l && { ...l, time: l.fix_time || l.time, device_id: d.id, name: d.name || `${d.protocol} ${d.id}`, member: mem.account, member_name: mem.name };
}

function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function drawPlaces(places) {
  // places as the member API lists them: {id, name, geometry (GeoJSON), radius_m}
  state.placesLayer.clearLayers();
  for (const f of places) {
    const props = f.properties || {};
    const name = f.name || props.name || f.id || "place";
    const radius = f.radius_m || props.radius_m;
    const style = { color: "#7b1fa2", weight: 2, fillOpacity: 0.08 };
    let layer;
    if (f.geometry && f.geometry.type === "Point" && radius) {
      const [lon, lat] = f.geometry.coordinates;
      layer = L.circle([lat, lon], { radius, ...style });
    } else if (f.geometry) {
      layer = L.geoJSON({ type: "Feature", geometry: f.geometry, properties: {} }, { style });
    }
    if (layer) layer.bindTooltip(escapeHtml(name)).addTo(state.placesLayer);
  }
}

function fitAll() {
  const pts = [...state.markers.values()].map((m) => m.marker.getLatLng());
  state.placesLayer.eachLayer((l) => { if (l.getLatLng) pts.push(l.getLatLng()); });
  if (pts.length === 1) state.map.setView(pts[0], 15);
  else if (pts.length > 1) state.map.fitBounds(L.latLngBounds(pts).pad(0.3), { maxZoom: 16 });
}

// --- members and alerts --------------------------------------------------------------------

function renderMembers(members) {
  state.members = members;
  const list = $("#members");
  list.replaceChildren();
  const select = $("#history-device");
  select.replaceChildren();
  for (const mem of members) {
    const li = document.createElement("li");
    li.dataset.account = mem.account;
    const name = document.createElement("span");
    name.className = "member-name";
    name.textContent = mem.name || mem.account;
    li.append(name);
    if (!mem.in_plan) {
      const note = document.createElement("div");
      note.className = "over-limit";
      note.textContent = "beyond the plan's member limit: not shared";
      li.append(note);
    }
    for (const d of mem.devices || []) {
      const row = document.createElement("div");
      row.className = "muted";
      row.dataset.device = String(d.id);
      const label = d.name || `${d.protocol} ${d.id}`;
      row.textContent = `${label}: last seen ${ago(d.latest && (d.latest.fix_time || d.latest.time))}`;
      li.append(row);
      const opt = document.createElement("option");
      opt.value = String(d.id);
      opt.textContent = `${mem.name || mem.account} — ${label}`;
      select.append(opt);
    }
    list.append(li);
  }
}

function updateMemberSeen(device, time) {
  for (const mem of state.members) {
    for (const d of mem.devices || []) {
      if (String(d.id) === String(device)) {
        d.latest = { ...(d.latest || {}), fix_time: time };
        const row = document.querySelector(`#members [data-device="${CSS.escape(String(device))}"]`);
        if (row) row.textContent = `${d.name || `${d.protocol} ${d.id}`}: last seen ${ago(time)}`;
      }
    }
  }
}

const ALERT_WORDS = {
  enter: "arrived at", exit: "left", arrival: "arrived at airport", departure: "departed from airport",
  flight_landed: "landed", sos: "SOS", alarm: "alarm",
};

function alertText(a) {
  // a live alert ({type, member, device_id, place|airport}) or a feed item ({kind, device,
  // device_name, payload: {place|airport}})
  const kind = a.kind || a.type || "event";
  const body = a.payload || a;
  const who = memberName(a.member) || ownerName(a.device_id ?? a.device) || a.device_name || a.device || "";
  const place = (body.place && (body.place.name || body.place.id)) || (body.airport && (body.airport.name || body.airport.iata)) || "";
  const words = ALERT_WORDS[kind] || kind.replace(/[_:]/g, " ");
  return `${who} ${words}${place ? " " + place : ""}`.trim();
}

function addAlert(a, { prepend = true } = {}) {
  const li = document.createElement("li");
  li.dataset.kind = a.kind || a.type || "";
  const kind = document.createElement("span");
  kind.className = "alert-kind";
  kind.textContent = alertText(a);
  const when = document.createElement("div");
  when.className = "muted";
  when.textContent = a.time ? new Date(a.time).toLocaleString() : "";
  li.append(kind, when);
  const list = $("#alerts");
  if (prepend) list.prepend(li); else list.append(li);
  while (list.children.length > 100) list.lastChild.remove();
}

// --- live stream ---------------------------------------------------------------------------

async function openStream() {
  if (state.stream) state.stream.close();
  const circle = state.circle;
  const { ticket } = await api("POST", `/v1/circles/${encodeURIComponent(circle)}/live/tickets`);
  const params = new URLSearchParams({ ticket });
  if (state.lastEventId) params.set("last_event_id", state.lastEventId);
  const es = new EventSource(`/v1/circles/${encodeURIComponent(circle)}/live?${params}`);
  state.stream = es;
  es.addEventListener("open", () => $("#live-state").classList.add("on"));
  es.addEventListener("snapshot", (e) => {
    state.lastEventId = e.lastEventId;
    const snap = JSON.parse(e.data);
    if (snap.places) drawPlaces(items(snap.places));
    if (snap.members) renderMembers(items(snap.members));
    for (const mem of state.members) {
      for (const d of mem.devices || []) {
        const p = latestOf(d, mem);
        if (p) showPosition(p);
      }
    }
  });
  es.addEventListener("position", (e) => {
    state.lastEventId = e.lastEventId;
    showPosition(JSON.parse(e.data));
  });
  es.addEventListener("alert", (e) => {
    state.lastEventId = e.lastEventId;
    addAlert(JSON.parse(e.data));
  });
  es.addEventListener("error", () => {
    $("#live-state").classList.remove("on");
    if (es.readyState === EventSource.CLOSED && state.circle === circle && state.token) {
      // the ticket is single-circle and short-lived: ask for a new one and resume
      setTimeout(() => { if (state.circle === circle) openStream().catch(() => {}); }, 2000);
    }
  });
}

// --- history -------------------------------------------------------------------------------

async function replay(event) {
  event.preventDefault();
  const msg = $("#history-message");
  msg.textContent = "";
  msg.classList.remove("refused");
  state.trackLayer.clearLayers();
  $("#history-player").hidden = true;
  const device = $("#history-device").value;
  const day = $("#history-day").value;
  if (!device || !day) return;
  const from = new Date(`${day}T00:00:00`);
  const to = new Date(from.getTime() + 86400000);
  const path = `/v1/circles/${encodeURIComponent(state.circle)}/devices/${encodeURIComponent(device)}/history`;
  const fixes = [];
  let cursor = null;
  try {
    do {
      const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), limit: "1000" });
      if (cursor) q.set("cursor", cursor);
      const page = await api("GET", `${path}?${q}`);
      fixes.push(...(page.fixes || page.items || []));
      cursor = page.next_cursor || page.next || null;
    } while (cursor && fixes.length < 20000);
  } catch (err) {
    msg.textContent = err.message;
    msg.classList.add("refused");
    return;
  }
  if (!fixes.length) {
    msg.textContent = "No positions that day.";
    return;
  }
  const line = L.polyline(fixes.map((f) => [f.lat, f.lon]), { color: "#e65100", weight: 3 });
  line.addTo(state.trackLayer);
  const dot = L.circleMarker([fixes[0].lat, fixes[0].lon], { radius: 6, color: "#e65100" }).addTo(state.trackLayer);
  state.map.fitBounds(line.getBounds().pad(0.2));
  const slider = $("#history-slider");
  slider.max = String(fixes.length - 1);
  slider.value = "0";
  const show = () => {
    const f = fixes[Number(slider.value)];
    dot.setLatLng([f.lat, f.lon]);
    $("#history-time").textContent = new Date(f.fix_time || f.time).toLocaleTimeString();
  };
  slider.oninput = show;
  show();
  $("#history-player").hidden = false;
  msg.textContent = `${fixes.length} positions.`;
  document.querySelector("#map").dataset.track = String(fixes.length);
}

// --- places --------------------------------------------------------------------------------

function offerPlace(latlng) {
  state.pendingPlace = latlng;
  $("#place-form").hidden = false;
  $("#place-message").textContent = `At ${latlng.lat.toFixed(5)}, ${latlng.lng.toFixed(5)}.`;
  $("#place-message").classList.remove("refused");
  $("#place-name").focus();
}

async function addPlace(event) {
  event.preventDefault();
  const at = state.pendingPlace;
  if (!at) return;
  const msg = $("#place-message");
  const feature = {
    type: "Feature",
    geometry: { type: "Point", coordinates: [at.lng, at.lat] },
    properties: { name: $("#place-name").value, radius_m: Number($("#place-radius").value) },
  };
  try {
    await api("POST", `/v1/circles/${encodeURIComponent(state.circle)}/places`, feature);
    msg.textContent = `Added ${feature.properties.name}.`;
    msg.classList.remove("refused");
    $("#place-form").hidden = true;
    state.pendingPlace = null;
    drawPlaces(items(await api("GET", `/v1/circles/${encodeURIComponent(state.circle)}/places`)));
  } catch (err) {
    msg.textContent = err.message;
    msg.classList.add("refused");
  }
}

// --- putting it together -------------------------------------------------------------------

async function selectCircle(id) {
  state.circle = id;
  state.lastEventId = null;
  for (const m of state.markers.values()) { m.marker.remove(); m.accuracy.remove(); }
  state.markers.clear();
  state.trackLayer.clearLayers();
  $("#alerts").replaceChildren();
  const enc = encodeURIComponent(id);
  const [circle, members, places, alerts] = await Promise.all([
    api("GET", `/v1/circles/${enc}`),
    api("GET", `/v1/circles/${enc}/members`),
    api("GET", `/v1/circles/${enc}/places`),
    api("GET", `/v1/circles/${enc}/alerts`),
  ]);
  const plan = circle.plan || (circle.entitlement && circle.entitlement.plan);
  $("#plan").textContent = plan ? `${plan} plan` : "";
  $("#plan").hidden = !plan;
  renderMembers(items(members));
  drawPlaces(items(places));
  for (const a of items(alerts)) addAlert(a, { prepend: false });
  for (const mem of state.members) {
    if (!mem.in_plan) continue;
    for (const d of mem.devices || []) {
      const p = latestOf(d, mem);
      if (p) showPosition(p);
    }
  }
  fitAll();
  await openStream();
}

async function start() {
  $("#sign-in").hidden = true;
  $("#view").hidden = false;
  $("#sign-out").hidden = false;
  try { state.config = { ...state.config, ...(await (await fetch("/config.json")).json()) }; } catch { /* defaults */ }
  ensureMap();
  state.map.invalidateSize();
  const circles = items(await api("GET", "/v1/circles"));
  const select = $("#circle");
  select.replaceChildren();
  for (const c of circles) {
    const opt = document.createElement("option");
    opt.value = c.id;
    opt.textContent = c.name || c.id;
    select.append(opt);
  }
  $("#circle-form").hidden = circles.length === 0;
  $("#history-day").value = new Date().toISOString().slice(0, 10);
  if (circles.length) await selectCircle(circles[0].id);
}

$("#sign-in-form").addEventListener("submit", signIn);
$("#sign-out").addEventListener("click", signOut);
$("#circle").addEventListener("change", (e) => selectCircle(e.target.value));
$("#history-form").addEventListener("submit", replay);
$("#place-form").addEventListener("submit", addPlace);
$("#place-cancel").addEventListener("click", () => { $("#place-form").hidden = true; state.pendingPlace = null; });
setInterval(() => { for (const mem of state.members) for (const d of mem.devices || []) if (d.latest) updateMemberSeen(d.id, d.latest.fix_time || d.latest.time); }, 30000);
if (state.token) start().catch(() => signOut());
