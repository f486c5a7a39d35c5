// cardvault hosted form, the result page. The card page hands over to it
// after a reply that one of the form's callbacks handles: the card page's
// fields are gone, and the URL's fragment carries
// {v: 1, kind: "success" | "failure", code, data, request} — the reply and
// the posted fields as a callback may see them (no CVV, numbers masked).
//
// This page shows the outcome, and runs the merchant's callback in a
// dedicated Worker made from a blob: URL: no DOM, no network (the page's
// policy, which the worker inherits, allows no connection), and an opaque
// origin (the policy's sandbox). The callback gets stand-ins for
// window.location (replace, assign, href), window.parent.postMessage and
// window.top.postMessage; the page carries out what it asks for, when the
// URL is http or https. The callbacks' code is data: the JSON block
// #cv-callbacks.
(function () {
  "use strict";

  // The longest fragment read; the card page keeps under it.
  var MAX_HANDOVER = 256 * 1024;
  var messages = window.cardvaultMessages;
  var statusEl = document.getElementById("cv-status");

  function setStatus(message, kind) {
    statusEl.textContent = message;
    statusEl.className = "cv-status" + (kind ? " cv-" + kind : "");
  }

  function readCallbacks() {
    try {
      var c = JSON.parse(document.getElementById("cv-callbacks").textContent);
      return c && typeof c === "object" ? c : {};
    } catch (e) {
      return {};
    }
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  // readHandover returns the fragment's handover, or null.
  function readHandover(fragment) {
    if (fragment === "" || fragment.length > MAX_HANDOVER) {
      return null;
    }
    var h;
    try {
      h = JSON.parse(decodeURIComponent(fragment));
    } catch (e) {
      return null;
    }
    if (!isObject(h) || h.v !== 1 || (h.kind !== "success" && h.kind !== "failure") ||
        typeof h.code !== "number" || !isObject(h.request)) {
      return null;
    }
    return h;
  }

  var here = window.location.href.split("#")[0];
  var handover = readHandover(window.location.hash.slice(1));
  // The fragment is read: take it out of the address bar and the history
  // entry. (Where an opaque origin may not rewrite its URL, it stays; it
  // holds nothing the callback does not get.)
  try {
    window.history.replaceState(null, "", here);
  } catch (e) {
    // keep the fragment
  }
  if (!handover) {
    setStatus(messages.nothing, "");
    return;
  }
  var success = handover.kind === "success";
  // The code comes from the fragment, which anyone can write: the message
  // is picked by it, never taken from it.
  setStatus(success ? messages.saved : messages.failure(handover.code), success ? "success" : "failure");

  var callbacks = readCallbacks();
  var source = success ? callbacks.success : callbacks.error;
  if (typeof source !== "string" || source === "") {
    return;
  }
  var args = success ? [handover.data, handover.request] : [{ code: handover.code, data: handover.data }, handover.request];

  // callbackWorker is the worker's script. It runs in the worker, not
  // here: the page turns its source into a blob: URL.
  function callbackWorker() {
    "use strict";
    self.onmessage = function (ev) {
      self.onmessage = null;
      var job = ev.data;
      var post = function (m) {
        self.postMessage(m);
      };
      var navigate = function (how) {
        return function (url) {
          post({ op: "navigate", how: how, url: String(url) });
        };
      };
      var location = Object.freeze({
        get href() {
          return job.href;
        },
        set href(url) {
          post({ op: "navigate", how: "assign", url: String(url) });
        },
        replace: navigate("replace"),
        assign: navigate("assign"),
        toString: function () {
          return job.href;
        }
      });
      var frame = function (target) {
        return Object.freeze({
          postMessage: function (message, targetOrigin) {
            post({ op: "post", target: target, message: message,
              targetOrigin: targetOrigin === undefined ? undefined : String(targetOrigin) });
          }
        });
      };
      var parent = frame("parent");
      var top = frame("top");
      var win = Object.create(null);
      Object.defineProperties(win, {
        location: {
          get: function () { return location; },
          set: function (url) { location.href = url; }
        },
        parent: { value: parent },
        top: { value: top },
        window: { get: function () { return win; } },
        self: { get: function () { return win; } },
        console: { value: self.console },
        setTimeout: { value: self.setTimeout.bind(self) },
        clearTimeout: { value: self.clearTimeout.bind(self) },
        setInterval: { value: self.setInterval.bind(self) },
        clearInterval: { value: self.clearInterval.bind(self) }
      });
      var fn;
      try {
        // A function expression, compiled as one; under the result page's
        // policy ('unsafe-eval' for this line), with window, location,
        // parent, top and document bound to the stand-ins.
        fn = new Function("window", "location", "parent", "top", "document",
          "return (" + job.source + "\n);")(win, location, parent, top, undefined);
      } catch (e) {
        self.console.error("cardvault form: the callback does not compile:", String(e));
        return;
      }
      if (typeof fn !== "function") {
        self.console.error("cardvault form: the callback is not a function");
        return;
      }
      try {
        var r = fn.apply(win, job.args);
        if (r && typeof r.then === "function") {
          r.then(null, function (e) {
            self.console.error("cardvault form: the callback failed:", String(e));
          });
        }
      } catch (e) {
        self.console.error("cardvault form: the callback failed:", String(e));
      }
    };
  }

  function httpURL(s) {
    var u;
    try {
      u = new URL(s, here);
    } catch (e) {
      return null;
    }
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  }

  // carryOut does what the callback asked for through its stand-ins.
  function carryOut(m) {
    if (!isObject(m)) {
      return;
    }
    try {
      if (m.op === "navigate") {
        var url = httpURL(m.url);
        if (!url) {
          console.error("cardvault form: a callback may only navigate to an http or https URL");
          return;
        }
        if (m.how === "assign") {
          window.location.assign(url);
        } else {
          window.location.replace(url);
        }
      } else if (m.op === "post") {
        var w = m.target === "top" ? window.top : window.parent;
        if (w === window) {
          return; // a page of its own: nobody around it to post to
        }
        if (m.targetOrigin === undefined) {
          w.postMessage(m.message);
        } else {
          w.postMessage(m.message, m.targetOrigin);
        }
      }
    } catch (e) {
      console.error("cardvault form: the callback's request failed:", String(e));
    }
  }

  var worker;
  try {
    var blob = new Blob(["(" + callbackWorker.toString() + ")();\n"], { type: "text/javascript" });
    worker = new Worker(URL.createObjectURL(blob));
  } catch (e) {
    console.error("cardvault form: the callback cannot run here:", String(e));
    return;
  }
  worker.onmessage = function (ev) {
    carryOut(ev.data);
  };
  worker.onerror = function (ev) {
    console.error("cardvault form: the callback failed:", ev.message);
  };
  worker.postMessage({ source: source, args: args, href: here });
})();
