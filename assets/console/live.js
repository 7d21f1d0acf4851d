// The console's live feed: the membershipChanges subscription over this server's WebSocket
// (graphql-transport-ws). The session cookie signs the connection in; no key is handled here.
// Texts are set with textContent, never parsed as HTML. On a drop it reconnects and resumes
// after the last change it showed, so nothing is missed.
(function () {
  "use strict";
  var QUERY = "subscription ConsoleLive($after: ID) { membershipChanges(after: $after) { id customerId customerExternalId kind roleId tagId value previousValue segmentId source reason occurredAt } }";
  var MAX_ROWS = 200;
  var lastId = null;
  var delay = 1000;

  function status(text) {
    var el = document.getElementById("live-status");
    if (el) { el.textContent = text; }
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  // Names of the roles, tags and segments that existed when the page was drawn.
  var names = {};
  try { names = JSON.parse(document.getElementById("live").dataset.names || "{}"); } catch (e) { names = {}; }

  function named(kind, id) {
    var known = names[kind] && names[kind][id];
    return known ? kind + " " + known : kind + " " + id;
  }

  function when(instant) {
    return instant.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC");
  }

  function what(change) {
    if (change.segmentId) { return named("segment", change.segmentId); }
    if (change.roleId) { return named("role", change.roleId); }
    if (change.tagId) {
      var text = named("tag", change.tagId);
      if (change.value !== null && change.value !== undefined) {
        text += " = " + change.value;
        if (change.previousValue !== null && change.previousValue !== undefined) { text += " (was " + change.previousValue + ")"; }
      }
      return text;
    }
    return "";
  }

  function show(change) {
    var feed = document.getElementById("feed");
    if (!feed) { return; }
    var row = document.createElement("tr");
    row.setAttribute("data-change", change.id);
    cell(row, when(change.occurredAt));
    var who = cell(row, "");
    var link = document.createElement("a");
    link.href = "/console/outbox?customer=" + encodeURIComponent(change.customerId);
    link.textContent = change.customerExternalId + " (" + change.customerId + ")";
    who.appendChild(link);
    cell(row, change.kind.toLowerCase().replace(/_/g, " "));
    cell(row, what(change));
    cell(row, change.source);
    cell(row, change.reason || "");
    feed.insertBefore(row, feed.firstChild);
    while (feed.children.length > MAX_ROWS) { feed.removeChild(feed.lastChild); }
    var empty = document.getElementById("feed-empty");
    if (empty) { empty.hidden = true; }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/graphql", "graphql-transport-ws");
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        delay = 1000;
        status("Live: waiting for changes.");
        socket.send(JSON.stringify({ id: "live", type: "subscribe", payload: { query: QUERY, variables: { after: lastId } } }));
      } else if (message.type === "next" && message.payload && message.payload.data) {
        var change = message.payload.data.membershipChanges;
        lastId = change.id;
        show(change);
        status("Live: last change at " + when(change.occurredAt) + ".");
      } else if (message.type === "next" && message.payload && message.payload.errors) {
        status("The feed was refused: " + message.payload.errors[0].message);
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4403 || event.code === 4401) {
        status("Signed out: sign in again to follow changes.");
        return;
      }
      status("Disconnected; reconnecting in " + Math.round(delay / 1000) + " s…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
}());
