// The wallboard: /api/status once, then /api/events (Server-Sent Events) for every change.
// Events only change the model and mark what is stale; drawing happens once per animation
// frame and touches only the stale parts, so 1,000 tiles and a long queue never freeze the
// tab. Timers tick once a second from the server's clock (its "now" against ours).
// Text goes in with textContent only: ids are the callers' and operators' own text.
"use strict";

(function () {
  var LINES_SHOWN = 50;
  var RETRY_MIN = 1000;
  var RETRY_MAX = 5000;

  var model = {
    offset: 0, // server seconds minus our seconds
    order: [], // operator ids in configured order
    operators: {}, // id -> {id, state, call, reason, since}
    waiting: { count: 0, calls: [] },
    figures: null,
    lastLine: 0,
    degraded: null, // why the call center cannot store changes, or null
    queues: [], // with several queues: {name, waiting, figures, longestSince} each, in order
  };
  var stale = {
    tiles: {}, allTiles: false, rebuild: false, queue: false, figures: false, lines: [], resetLines: false,
    degraded: false, queueViews: false, queueCalls: {}, queueFigures: false,
  };
  var tiles = {}; // id -> {root, state, call, timer, shown}
  var queueRows = [];
  var queueViews = []; // with several queues: {root, count, figures: {id -> dd}, list, rows} each
  var frame = 0;
  var source = null;
  var retryTimer = 0;
  var retryDelay = RETRY_MIN;

  function $(id) { return document.getElementById(id); }

  function serverNow() { return Date.now() / 1000 + model.offset; }

  function duration(seconds) {
    var whole = seconds > 0 ? Math.round(seconds) : 0;
    var h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function percent(value) { return value === null ? "-" : value.toFixed(1) + "%"; }

  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

  function connection(word) {
    var node = $("connection");
    setText(node, word);
    node.className = word;
  }

  // The model

  function takeClock(now) { model.offset = now - Date.now() / 1000; }

  function applyStatus(doc) {
    takeClock(doc.now);
    var ids = doc.operators.map(function (op) { return op.id; });
    if (ids.join("\n") !== model.order.join("\n")) stale.rebuild = true;
    model.order = ids;
    model.operators = {};
    doc.operators.forEach(function (op) { model.operators[op.id] = op; });
    stale.allTiles = true;
    model.waiting = doc.waiting;
    model.figures = doc.figures;
    stale.queue = stale.figures = true;
    stale.resetLines = true;
    stale.lines = doc.lines.slice(-LINES_SHOWN);
    takeDegraded(doc.degraded);
    var names = doc.queues.map(function (queue) { return queue.name; });
    if (names.join("\n") !== model.queues.map(function (queue) { return queue.name; }).join("\n")) {
      stale.queueViews = true;
    }
    model.queues = doc.queues.map(function (queue) { return ofQueue(queue, doc.now); });
    model.queues.forEach(function (queue, i) { stale.queueCalls[i] = true; });
    stale.queueFigures = true;
    model.lastLine = doc.lines.length ? doc.lines[doc.lines.length - 1].n : 0;
    draw();
  }

  function applyChange(doc) {
    takeClock(doc.now);
    doc.operators.forEach(function (op) {
      if (!(op.id in model.operators)) stale.rebuild = true;
      model.operators[op.id] = op;
      stale.tiles[op.id] = true;
    });
    if (doc.waiting) { model.waiting = doc.waiting; stale.queue = true; }
    model.figures = doc.figures;
    stale.figures = true;
    takeDegraded(doc.degraded);
    (doc.queues || []).forEach(function (queue, i) {
      var known = model.queues[i];
      if (!known) return;
      var waiting = queue.waiting || known.waiting; // null: that queue's calls did not change
      if (queue.waiting) stale.queueCalls[i] = true;
      model.queues[i] = ofQueue({ name: queue.name, waiting: waiting, figures: queue.figures }, doc.now);
      stale.queueFigures = true;
    });
    doc.lines.forEach(function (line) {
      if (line.n > model.lastLine) { stale.lines.push(line); model.lastLine = line.n; }
    });
    draw();
  }

  function takeDegraded(reason) {
    if (reason !== model.degraded) { model.degraded = reason; stale.degraded = true; }
  }

  function ofQueue(queue, now) {
    var longest = queue.figures.longest_waiting;
    return {
      name: queue.name,
      waiting: queue.waiting,
      figures: queue.figures,
      longestSince: longest === null ? null : now - longest,
    };
  }

  // Drawing, once per frame

  function draw() { if (!frame) frame = window.requestAnimationFrame(render); }

  function render() {
    frame = 0;
    if (stale.rebuild) { buildTiles(); stale.rebuild = false; stale.allTiles = true; }
    if (stale.allTiles) {
      model.order.forEach(drawTile);
      stale.allTiles = false;
    } else {
      Object.keys(stale.tiles).forEach(drawTile);
    }
    stale.tiles = {};
    if (stale.queue) { drawQueue(); stale.queue = false; }
    if (stale.figures) { drawFigures(); stale.figures = false; }
    if (stale.resetLines || stale.lines.length) { drawLines(); }
    if (stale.degraded) { drawDegraded(); stale.degraded = false; }
    if (stale.queueViews) { buildQueueViews(); stale.queueViews = false; }
    Object.keys(stale.queueCalls).forEach(function (i) {
      var view = queueViews[i], queue = model.queues[i];
      if (view && queue) fillCalls(view.list, view.rows, queue.waiting);
    });
    stale.queueCalls = {};
    if (stale.queueFigures) { model.queues.forEach(drawQueueFigures); stale.queueFigures = false; }
  }

  function drawDegraded() {
    var banner = $("degraded");
    // The refusal line itself, as a sentence: "Cannot store the change: no space left in ...".
    setText(banner, model.degraded ? model.degraded.charAt(0).toUpperCase() + model.degraded.slice(1) : "");
    banner.hidden = !model.degraded;
  }

  // With several queues, a section each (its figures, its waiting calls) instead of one queue.
  var QUEUE_FIGURES = [
    ["waiting", "Waiting now"], ["longest", "Longest waiting"], ["service", "Service level"],
    ["answered", "Answered"], ["missed", "Missed"], ["average", "Average wait"],
  ];

  function buildQueueViews() {
    var holder = $("queues");
    var fragment = document.createDocumentFragment();
    queueViews = model.queues.map(function (queue) {
      var root = document.createElement("section");
      root.className = "queue";
      root.setAttribute("data-queue", queue.name);
      var title = document.createElement("h2");
      var name = document.createElement("span");
      name.className = "queue-name";
      name.textContent = "Queue " + queue.name;
      var count = document.createElement("span");
      count.className = "queue-count";
      title.append(name, " ", count);
      var list = document.createElement("dl");
      list.className = "queue-figures";
      var figures = {};
      QUEUE_FIGURES.forEach(function (figure) {
        var item = document.createElement("div");
        var term = document.createElement("dt");
        term.textContent = figure[1];
        var value = document.createElement("dd");
        value.className = figure[0];
        value.textContent = "-";
        item.append(term, value);
        list.appendChild(item);
        figures[figure[0]] = value;
      });
      var calls = document.createElement("ol");
      calls.className = "queue-calls";
      root.append(title, list, calls);
      fragment.appendChild(root);
      return { root: root, count: count, figures: figures, list: calls, rows: [] };
    });
    holder.replaceChildren(fragment);
    holder.hidden = queueViews.length === 0;
    $("queue-section").hidden = queueViews.length !== 0;
  }

  function drawQueueFigures(queue, i) {
    var view = queueViews[i], f = queue.figures;
    if (!view) return;
    setText(view.count, queue.waiting.count + " waiting");
    setText(view.figures.waiting, String(f.waiting));
    setText(view.figures.longest, queue.longestSince === null ? "-" : duration(serverNow() - queue.longestSince));
    setText(view.figures.service, percent(f.service_level.percent));
    setText(view.figures.answered, String(f.answered));
    setText(view.figures.missed, percent(f.missed_percent));
    setText(view.figures.average, f.average_wait === null ? "-" : duration(f.average_wait));
  }

  function buildTiles() {
    var holder = $("operators");
    var fragment = document.createDocumentFragment();
    tiles = {};
    model.order.forEach(function (id) {
      var root = document.createElement("div");
      root.className = "tile";
      root.setAttribute("data-operator", id);
      var name = document.createElement("div");
      name.className = "id";
      name.textContent = id;
      var state = document.createElement("div");
      state.className = "state";
      var call = document.createElement("div");
      call.className = "call";
      var timer = document.createElement("div");
      timer.className = "timer";
      root.append(name, state, call, timer);
      fragment.appendChild(root);
      tiles[id] = { root: root, state: state, call: call, timer: timer, shown: "" };
    });
    holder.replaceChildren(fragment);
  }

  function drawTile(id) {
    var tile = tiles[id], op = model.operators[id];
    if (!tile || !op) return;
    var word = op.reason ? op.state + " (" + op.reason + ")" : op.state;
    if (tile.shown !== op.state) { tile.root.className = "tile " + op.state; tile.shown = op.state; }
    setText(tile.state, word);
    setText(tile.call, op.call === null ? "" : "call " + op.call);
    setText(tile.timer, duration(serverNow() - op.since));
  }

  function drawQueue() {
    setText($("queue-count"), model.waiting.count + " waiting");
    fillCalls($("queue"), queueRows, model.waiting);
  }

  // A list of waiting calls, head first, then "and N more"; rows are kept for reuse. A row
  // reads "call 4 waiting 0:00:09": words between the id and the wait, so that its text (what
  // a screen reader says, what a copy gives) never runs them together, whatever the id.
  function fillCalls(list, rows, waiting) {
    var calls = waiting.calls, now = serverNow();
    while (rows.length < calls.length) {
      var row = document.createElement("li");
      var id = document.createElement("span");
      id.className = "id";
      var wait = document.createElement("span");
      wait.className = "wait";
      row.append(id, " waiting ", wait);
      rows.push({ root: row, id: id, wait: wait });
    }
    var fragment = document.createDocumentFragment();
    calls.forEach(function (call, i) {
      var row = rows[i];
      setText(row.id, "call " + call.call);
      setText(row.wait, duration(now - call.received_at));
      fragment.appendChild(row.root);
    });
    var more = waiting.count - calls.length;
    if (more > 0) {
      var note = document.createElement("li");
      note.className = "more";
      note.textContent = "and " + more + " more";
      fragment.appendChild(note);
    }
    list.replaceChildren(fragment);
  }

  function drawFigures() {
    var f = model.figures;
    if (!f) return;
    var head = model.waiting.calls[0];
    setText($("waiting-now"), String(f.waiting));
    setText($("longest-waiting"), head ? duration(serverNow() - head.received_at) : "-");
    setText($("service-level"), percent(f.service_level.percent));
    $("service-level").title = "answered within " + f.service_level.threshold + " s";
    setText($("answered"), String(f.answered));
    setText($("missed-percent"), percent(f.missed_percent));
    setText($("average-wait"), f.average_wait === null ? "-" : duration(f.average_wait));
  }

  function drawLines() {
    var list = $("lines");
    if (stale.resetLines) { list.replaceChildren(); stale.resetLines = false; }
    var fragment = document.createDocumentFragment();
    stale.lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = new Date(line.at * 1000).toLocaleTimeString() + "  " + line.line;
      fragment.insertBefore(item, fragment.firstChild); // newest first
    });
    stale.lines = [];
    list.insertBefore(fragment, list.firstChild);
    while (list.children.length > LINES_SHOWN) list.removeChild(list.lastChild);
  }

  function tick() {
    var now = serverNow();
    model.order.forEach(function (id) {
      var tile = tiles[id], op = model.operators[id];
      if (tile && op) setText(tile.timer, duration(now - op.since));
    });
    model.waiting.calls.forEach(function (call, i) {
      if (queueRows[i]) setText(queueRows[i].wait, duration(now - call.received_at));
    });
    var head = model.waiting.calls[0];
    setText($("longest-waiting"), head ? duration(now - head.received_at) : "-");
    model.queues.forEach(function (queue, i) {
      var view = queueViews[i];
      if (!view) return;
      queue.waiting.calls.forEach(function (call, j) {
        if (view.rows[j]) setText(view.rows[j].wait, duration(now - call.received_at));
      });
      if (queue.longestSince !== null) setText(view.figures.longest, duration(now - queue.longestSince));
    });
  }

  // The connection: status, then the stream; on any failure "disconnected" and try again.

  function start() {
    retryTimer = 0;
    fetch("/api/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { showLogin(""); return null; }
        if (!response.ok) throw new Error("status " + response.status);
        return response.json().then(function (doc) {
          showBoard();
          applyStatus(doc);
          listen();
        });
      })
      .catch(lost);
  }

  function listen() {
    source = new EventSource("/api/events");
    source.addEventListener("open", function () { connection("live"); retryDelay = RETRY_MIN; });
    source.addEventListener("status", function (e) { applyStatus(JSON.parse(e.data)); });
    source.addEventListener("change", function (e) { applyChange(JSON.parse(e.data)); });
    source.addEventListener("error", lost);
  }

  function lost() {
    if (source) { source.close(); source = null; }
    connection("disconnected");
    if (!retryTimer) {
      retryTimer = window.setTimeout(start, retryDelay);
      retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
    }
  }

  function showBoard() { $("login").hidden = true; $("board").hidden = false; }

  function showLogin(message) {
    connection("locked");
    $("board").hidden = true;
    $("login").hidden = false;
    setText($("login-error"), message);
    $("token").focus();
  }

  function login(event) {
    event.preventDefault();
    var token = $("token").value;
    fetch("/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token }),
    })
      .then(function (response) {
        if (response.ok) { $("token").value = ""; setText($("login-error"), ""); start(); return; }
        return response.json().then(function (doc) { showLogin(doc.error || "login failed"); });
      })
      .catch(function () { showLogin("the server cannot be reached"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("login").addEventListener("submit", login);
    window.setInterval(tick, 1000);
    start();
  });
})();
