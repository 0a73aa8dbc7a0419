// critpath dashboard: selection, live updates, copy-link. Hand-written, no dependencies.
//
// Safety: this script never builds HTML from strings. Live updates swap in nodes parsed
// from the server's own (autoescaped) page with DOMParser, which does not run scripts;
// selection compares data-key attributes as plain strings instead of putting them into
// CSS selectors.
(function () {
  "use strict";

  var MIN_REFRESH_INTERVAL_MS = 1500; // a busy collector may signal many changes a second
  var POLL_INTERVAL_MS = 2500;        // used only when the collector's event stream is absent
  var SELECTABLE_KINDS = ["node", "edge", "span"];

  var state = {
    paused: false,
    refreshing: false,
    again: false,
    timer: null,
    lastRefresh: 0,
    mode: "connecting",
    stream: null,       // the open EventSource, if any
    polling: false,     // true once the stream proved unavailable
    sources: new Map(), // region id -> the server HTML it currently shows
  };

  function liveEnabled() {
    return document.body.dataset.live === "on";
  }

  // ------------------------------------------------------------------ selection

  function currentSelection() {
    var params = new URLSearchParams(location.hash.slice(1));
    for (var i = 0; i < SELECTABLE_KINDS.length; i++) {
      var kind = SELECTABLE_KINDS[i];
      if (params.has(kind)) return { kind: kind, key: params.get(kind) };
    }
    return null;
  }

  function eachWithKey(selector, key, fn) {
    document.querySelectorAll(selector).forEach(function (el) {
      if (el.dataset.key === key) fn(el);
    });
  }

  function applySelection() {
    var sel = currentSelection();
    document.querySelectorAll("[data-select].selected").forEach(function (el) {
      el.classList.remove("selected");
    });
    document.querySelectorAll("[data-detail]").forEach(function (el) { el.hidden = true; });
    var shown = false;
    if (sel) {
      eachWithKey('[data-select="' + sel.kind + '"]', sel.key, function (el) {
        el.classList.add("selected");
      });
      eachWithKey('[data-detail="' + sel.kind + '"]', sel.key, function (el) {
        el.hidden = false;
        shown = true;
      });
    }
    var placeholder = document.getElementById("details-empty");
    if (placeholder) placeholder.hidden = shown;
    document.querySelectorAll("[data-selection-host]").forEach(function (host) {
      host.classList.toggle("has-selection", shown);
    });
  }

  function clearSelection() {
    history.replaceState(null, "", location.pathname + location.search);
    applySelection();
  }

  function select(kind, key) {
    var params = new URLSearchParams();
    var current = currentSelection();
    // Clicking the selected item again clears the selection.
    if (!(current && current.kind === kind && current.key === key)) params.set(kind, key);
    var hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    applySelection();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-select-link]");
    if (link) {
      event.preventDefault();
      select(link.dataset.selectLink, link.dataset.key);
      eachWithKey('[data-select="' + link.dataset.selectLink + '"]', link.dataset.key, function (el) {
        el.scrollIntoView({ block: "nearest" });
      });
      return;
    }
    if (event.target.closest("[data-clear-selection]")) {
      clearSelection();
      return;
    }
    var target = event.target.closest("[data-select]");
    if (target && SELECTABLE_KINDS.indexOf(target.dataset.select) >= 0) {
      select(target.dataset.select, target.dataset.key);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      clearSelection();
      return;
    }
    if (event.key !== "Enter" && event.key !== " ") return;
    var target = event.target.closest && event.target.closest("[data-select]");
    if (target) {
      event.preventDefault();
      select(target.dataset.select, target.dataset.key);
    }
  });

  window.addEventListener("hashchange", applySelection);

  // Hovering or focusing a call (its line, label or shared-peer pill) marks every part of
  // it, so that labels shown only on demand (dense graphs) appear.
  function markHover(event, on) {
    var target = event.target.closest && event.target.closest('[data-select="edge"]');
    if (!target) return;
    eachWithKey('[data-select="edge"]', target.dataset.key, function (el) {
      el.classList.toggle("hover", on);
    });
  }
  document.addEventListener("mouseover", function (event) { markHover(event, true); });
  document.addEventListener("mouseout", function (event) { markHover(event, false); });
  document.addEventListener("focusin", function (event) { markHover(event, true); });
  document.addEventListener("focusout", function (event) { markHover(event, false); });

  // ------------------------------------------------------------------ live updates

  function setStatus(mode) {
    state.mode = mode;
    var button = document.getElementById("live-status");
    if (!button) return;
    var shown = state.paused ? "paused" : mode;
    button.dataset.state = liveEnabled() ? shown : "static";
    var labels = {
      connecting: "connecting", live: "live", polling: "live (polling)",
      paused: "paused", offline: "offline — retrying",
    };
    button.querySelector(".live-label").textContent = labels[shown] || shown;
  }

  function pulse() {
    var button = document.getElementById("live-status");
    if (!button) return;
    button.classList.remove("pulse");
    void button.offsetWidth; // restart the animation
    button.classList.add("pulse");
  }

  function rememberSources(root) {
    root.querySelectorAll("[data-live-region]").forEach(function (region) {
      if (region.id) state.sources.set(region.id, region.innerHTML);
    });
  }

  function scheduleRefresh() {
    if (!liveEnabled() || state.paused) return;
    if (state.timer !== null) return;
    var wait = Math.max(0, state.lastRefresh + MIN_REFRESH_INTERVAL_MS - Date.now());
    state.timer = setTimeout(function () {
      state.timer = null;
      refresh();
    }, wait);
  }

  function refresh() {
    if (state.refreshing) {
      state.again = true;
      return;
    }
    state.refreshing = true;
    state.lastRefresh = Date.now();
    fetch(location.pathname + location.search, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        swapRegions(new DOMParser().parseFromString(html, "text/html"));
        if (state.mode === "offline") setStatus("polling");
      })
      .catch(function () { setStatus("offline"); })
      .then(function () {
        state.refreshing = false;
        if (state.again) {
          state.again = false;
          scheduleRefresh();
        }
      });
  }

  // Replace only the regions whose server HTML changed, keeping the reader's place:
  // window scroll is untouched, each region's own scroll offsets and the keyboard focus
  // are restored, and the selection (kept in the URL's hash) is applied again.
  function swapRegions(fresh) {
    var focused = document.activeElement;
    var focusKey = focused && focused.dataset ? [focused.dataset.select, focused.dataset.key] : null;
    var changed = false;
    fresh.querySelectorAll("[data-live-region]").forEach(function (incoming) {
      var current = incoming.id && document.getElementById(incoming.id);
      if (!current || state.sources.get(incoming.id) === incoming.innerHTML) return;
      var scrolls = [current.scrollTop, current.scrollLeft];
      current.replaceChildren.apply(current, Array.from(incoming.childNodes).map(function (node) {
        return document.importNode(node, true);
      }));
      current.scrollTop = scrolls[0];
      current.scrollLeft = scrolls[1];
      state.sources.set(incoming.id, incoming.innerHTML);
      changed = true;
    });
    if (fresh.body && fresh.body.dataset.version) document.body.dataset.version = fresh.body.dataset.version;
    if (!changed) return;
    pulse();
    applySelection();
    if (focusKey && focusKey[0] && !document.body.contains(focused)) {
      eachWithKey('[data-select="' + focusKey[0] + '"]', focusKey[1], function (el) { el.focus({ preventScroll: true }); });
    }
  }

  function startPolling() {
    state.polling = true;
    setStatus("polling");
    setInterval(function () {
      if (state.paused || document.hidden) return;
      fetch("/live/version", { cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          if (state.mode === "offline") setStatus("polling");
          if (String(body.version) !== document.body.dataset.version) scheduleRefresh();
        })
        .catch(function () { setStatus("offline"); });
    }, POLL_INTERVAL_MS);
  }

  // The collector's event stream says when the live state changed; if it is not there
  // (or refuses us), fall back to polling the dashboard's own version probe.
  function connect() {
    if (!("EventSource" in window)) {
      startPolling();
      return;
    }
    var stream = new EventSource("/api/stream");
    state.stream = stream;
    stream.addEventListener("report", function (event) {
      // The stream announces its current version on connect; the page may already show it.
      var version = null;
      try { version = JSON.parse(event.data).version; } catch (malformed) { version = null; } // then refresh anyway
      if (version === null || version === undefined || String(version) !== document.body.dataset.version) {
        scheduleRefresh();
      }
    });
    stream.addEventListener("open", function () { setStatus("live"); });
    stream.addEventListener("error", function () {
      if (stream.readyState === EventSource.CLOSED) {
        stream.close();
        state.stream = null;
        startPolling();
      } else {
        setStatus("offline");
      }
    });
  }

  // A browser holds only a few connections per server; a stream in every background tab
  // (a wall screen, an incident channel's links) would starve the visible one. Hidden
  // tabs let go of their stream and catch up when shown again (the stream's first event
  // carries the current version).
  document.addEventListener("visibilitychange", function () {
    if (!liveEnabled() || state.polling) return;
    if (document.hidden && state.stream) {
      state.stream.close();
      state.stream = null;
    } else if (!document.hidden && !state.stream) {
      connect();
    }
  });

  // ------------------------------------------------------------------ buttons

  function setupButtons() {
    var live = document.getElementById("live-status");
    if (live) {
      live.addEventListener("click", function () {
        state.paused = !state.paused;
        setStatus(state.mode);
        if (!state.paused) scheduleRefresh();
      });
    }
    var copy = document.getElementById("copy-link");
    var fallback = document.getElementById("copy-fallback");
    if (copy) {
      copy.addEventListener("click", function () {
        var done = function () {
          copy.classList.add("copied");
          copy.textContent = "Copied";
          setTimeout(function () { copy.classList.remove("copied"); copy.textContent = "Copy link"; }, 1500);
        };
        var showField = function () {
          // Clipboard access needs a secure context; otherwise offer the link to copy by hand.
          fallback.value = location.href;
          fallback.hidden = false;
          fallback.focus();
          fallback.select();
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(location.href).then(done, showField);
        } else {
          showField();
        }
      });
    }
    var cpOnly = document.getElementById("cp-only");
    var waterfall = document.getElementById("waterfall");
    if (cpOnly && waterfall) {
      cpOnly.addEventListener("click", function () {
        var on = cpOnly.getAttribute("aria-pressed") !== "true";
        cpOnly.setAttribute("aria-pressed", on ? "true" : "false");
        waterfall.classList.toggle("cp-only", on);
      });
    }
  }

  function start() {
    rememberSources(document);
    applySelection();
    setupButtons();
    if (liveEnabled()) {
      setStatus("connecting");
      connect();
    } else {
      setStatus("static");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
