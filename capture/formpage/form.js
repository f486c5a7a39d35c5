// cardvault hosted form, the card page. It checks what the visitor typed,
// posts the visible fields as JSON to the capture endpoint named by the
// form's data-capture-url, with the secret from the page's query string in
// the X-PCIVault-Capture-Secret header, and then either shows a plain
// message or — when the form has a callback for the outcome
// (data-success-callback, data-error-callback) — removes every field and
// replaces itself with the result page (data-result-url), which runs the
// merchant's callback. No merchant code ever runs on this page: it does not
// even hold it.
//
// It never posts when a checked field is invalid, never writes HTML from
// data (textContent only), and keeps the secret out of the DOM and out of
// the result page.
(function () {
  "use strict";

  var form = document.getElementById("cv-form");
  if (!form) {
    return; // the page shows a notice instead of the form
  }
  var statusEl = document.getElementById("cv-status");
  var submitEl = document.getElementById("cv-submit");
  var brandEl = document.getElementById("cv-card-brand");
  var params = new URLSearchParams(window.location.search);
  var secret = params.get("secret") || "";
  var captureURL = form.getAttribute("data-capture-url") || "";
  var resultURL = form.getAttribute("data-result-url") || "";
  var handOverSuccess = form.hasAttribute("data-success-callback");
  var handOverFailure = form.hasAttribute("data-error-callback");
  var messages = window.cardvaultMessages;
  var busy = false;

  function input(name) {
    return form.querySelector('[data-field="' + name + '"]');
  }

  // The link's reference fills a visible reference field, and is posted as
  // it is when the field is hidden: the merchant chose it.
  var linkReference = params.get("reference") || "";
  var referenceEl = input("reference");
  if (referenceEl && linkReference && !referenceEl.value) {
    referenceEl.value = linkReference;
  }

  // Card brands by IIN prefix. The first match wins, so the narrow ranges
  // that sit inside a wider one (Discover's 622126-622925 inside UnionPay's
  // 62) come first.
  function prefixBetween(digits, n, lo, hi) {
    if (digits.length < n) {
      return false;
    }
    var v = Number(digits.slice(0, n));
    return v >= lo && v <= hi;
  }
  var BRANDS = [
    { name: "amex", label: "American Express", lengths: [15], cvv: 4,
      test: function (d) { return /^3[47]/.test(d); } },
    { name: "diners", label: "Diners Club", lengths: [14, 15, 16, 17, 18, 19], cvv: 3,
      test: function (d) { return /^(30[0-5]|3095|36|3[89])/.test(d); } },
    { name: "jcb", label: "JCB", lengths: [16, 17, 18, 19], cvv: 3,
      test: function (d) { return prefixBetween(d, 4, 3528, 3589); } },
    { name: "discover", label: "Discover", lengths: [16, 17, 18, 19], cvv: 3,
      test: function (d) { return /^(6011|64[4-9]|65)/.test(d) || prefixBetween(d, 6, 622126, 622925); } },
    { name: "unionpay", label: "UnionPay", lengths: [16, 17, 18, 19], cvv: 3,
      test: function (d) { return /^(62|81)/.test(d); } },
    { name: "mastercard", label: "Mastercard", lengths: [16], cvv: 3,
      test: function (d) { return /^5[1-5]/.test(d) || prefixBetween(d, 4, 2221, 2720); } },
    { name: "visa", label: "Visa", lengths: [13, 16, 19], cvv: 3,
      test: function (d) { return /^4/.test(d); } }
  ];

  function brandOf(digits) {
    for (var i = 0; i < BRANDS.length; i++) {
      if (BRANDS[i].test(digits)) {
        return BRANDS[i];
      }
    }
    return null;
  }

  function luhnValid(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
    }
    return digits.length >= 12 && sum % 10 === 0;
  }

  // A routing number's ABA check: weights 3, 7, 1 over its nine digits.
  function abaValid(digits) {
    var w = [3, 7, 1], sum = 0;
    for (var i = 0; i < 9; i++) {
      sum += (digits.charCodeAt(i) - 48) * w[i % 3];
    }
    return sum % 10 === 0;
  }

  function cardDigits(value) {
    return value.replace(/[\s-]/g, "");
  }

  // parseExpiry accepts MM/YY, MMYY, M/YY and MM/YYYY and returns
  // {month, year} (year in full), or null.
  function parseExpiry(value) {
    var m = /^(\d{1,2})\s*\/?\s*(\d{2}|\d{4})$/.exec(value.trim());
    if (!m) {
      return null;
    }
    var month = Number(m[1]);
    var year = Number(m[2]);
    if (m[2].length === 2) {
      year += 2000;
    }
    if (month < 1 || month > 12) {
      return null;
    }
    return { month: month, year: year };
  }

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function currentBrand() {
    var el = input("card_number");
    return el ? brandOf(cardDigits(el.value)) : null;
  }

  // Each checker returns [value to post, error message or ""]. A field
  // whose data-validate is "false" is posted as typed (trimmed), and left
  // out when empty.
  var CHECKS = {
    card_number: function (raw) {
      var d = cardDigits(raw);
      if (d === "") {
        return [d, "Enter the card number."];
      }
      if (!/^\d+$/.test(d)) {
        return [d, "The card number can only contain digits."];
      }
      var brand = brandOf(d);
      if (d.length < 12 || d.length > 19 || (brand && brand.lengths.indexOf(d.length) < 0)) {
        return [d, "The card number has the wrong number of digits."];
      }
      if (!luhnValid(d)) {
        return [d, "This card number is not valid. Check it for typing mistakes."];
      }
      return [d, ""];
    },
    card_holder: function (raw) {
      var v = raw.trim();
      return [v, v === "" ? "Enter the name on the card." : ""];
    },
    expiry: function (raw) {
      if (raw.trim() === "") {
        return ["", "Enter the expiry date as MM/YY."];
      }
      var e = parseExpiry(raw);
      if (!e) {
        return [raw.trim(), "Enter the expiry date as MM/YY."];
      }
      var v = pad2(e.month) + "/" + pad2(e.year % 100);
      var now = new Date();
      var nowMonths = now.getFullYear() * 12 + now.getMonth() + 1;
      var months = e.year * 12 + e.month;
      if (months < nowMonths) {
        return [v, "This card has expired."];
      }
      if (months > nowMonths + 12 * 20) {
        return [v, "The expiry date is too far in the future."];
      }
      return [v, ""];
    },
    cvv: function (raw) {
      var v = raw.trim();
      var brand = currentBrand();
      if (v === "") {
        return [v, "Enter the security code."];
      }
      if (brand && !new RegExp("^\\d{" + brand.cvv + "}$").test(v)) {
        return [v, "The security code of a " + brand.label + " card has " + brand.cvv + " digits."];
      }
      if (!/^\d{3,4}$/.test(v)) {
        return [v, "The security code has 3 or 4 digits."];
      }
      return [v, ""];
    },
    reference: function (raw) {
      return [raw.trim(), ""];
    },
    account_holder: function (raw) {
      var v = raw.trim();
      return [v, v === "" ? "Enter the name of the account holder." : ""];
    },
    routing_number: function (raw) {
      var v = raw.replace(/\s/g, "");
      if (!/^\d{9}$/.test(v)) {
        return [v, "The routing number has 9 digits."];
      }
      if (!abaValid(v)) {
        return [v, "This routing number is not valid. Check it for typing mistakes."];
      }
      return [v, ""];
    },
    account_number: function (raw) {
      var v = raw.replace(/\s/g, "");
      if (!/^\d{4,17}$/.test(v)) {
        return [v, "The account number has 4 to 17 digits."];
      }
      return [v, ""];
    },
    account_type: function (raw) {
      var ok = raw === "checking" || raw === "savings";
      return [raw, ok ? "" : "Choose the type of account."];
    }
  };

  function setError(el, message) {
    var errEl = document.getElementById(el.id + "-error");
    if (errEl) {
      errEl.textContent = message;
    }
    if (message) {
      el.setAttribute("aria-invalid", "true");
    } else {
      el.removeAttribute("aria-invalid");
    }
  }

  function setStatus(message, kind) {
    statusEl.textContent = message;
    statusEl.className = "cv-status" + (kind ? " cv-" + kind : "");
  }

  // collect checks every field and returns the request body, or null after
  // it marked the invalid fields.
  function collect() {
    var data = {};
    var firstInvalid = null;
    var fields = form.querySelectorAll("[data-field]");
    for (var i = 0; i < fields.length; i++) {
      var el = fields[i];
      var name = el.getAttribute("data-field");
      var check = CHECKS[name];
      var res = check ? check(el.value) : [el.value.trim(), ""];
      if (el.getAttribute("data-validate") !== "true") {
        res[1] = "";
      }
      setError(el, res[1]);
      if (res[1] && !firstInvalid) {
        firstInvalid = el;
      }
      if (res[0] !== "") {
        data[name] = res[0];
      }
    }
    if (firstInvalid) {
      firstInvalid.focus();
      return null;
    }
    if (!referenceEl && linkReference) {
      data.reference = linkReference;
    }
    return data;
  }

  function showBrand() {
    var el = input("card_number");
    if (!el || !brandEl) {
      return;
    }
    var brand = brandOf(cardDigits(el.value));
    brandEl.textContent = brand ? brand.label : "";
    form.setAttribute("data-brand", brand ? brand.name : "");
  }

  // Re-check a field that showed an error as soon as it changes, so the
  // message goes away once the visitor fixed it.
  form.addEventListener("input", function (ev) {
    var el = ev.target;
    if (el.getAttribute("data-field") === "card_number") {
      showBrand();
    }
    if (el.getAttribute("aria-invalid") === "true" && el.getAttribute("data-validate") === "true") {
      var check = CHECKS[el.getAttribute("data-field")];
      if (check) {
        setError(el, check(el.value)[1]);
      }
    }
  });

  // Statuses after which another attempt cannot succeed.
  var FINAL = { 401: true, 403: true, 404: true, 410: true, 423: true };

  function failureMessage(code, data) {
    var msg = messages.failure(code);
    if (data && typeof data === "object" && typeof data.error === "string" && data.error !== "") {
      msg += " (" + data.error + ")";
    }
    return msg;
  }

  function stars(n) {
    return new Array(n + 1).join("*");
  }

  // maskCardNumber and maskAccountNumber are the secure-token API's masks
  // (securetoken.CardNumber.Masked, securetoken.AccountNumber.Masked),
  // ported: a browser test holds them to the Go functions. A card number
  // keeps its first six and last four digits, with one "*" for each digit
  // between, and is all stars when shorter than twelve; an account number
  // is "*****" and its last four, fewer when it is shorter than eight so
  // that half of it stays hidden.
  function maskCardNumber(n) {
    if (n.length < 12) {
      return stars(n.length);
    }
    return n.slice(0, 6) + stars(n.length - 10) + n.slice(n.length - 4);
  }

  function maskAccountNumber(n) {
    if (n === "" || n.indexOf("*****") === 0) {
      return n;
    }
    var shown = n.length < 8 ? Math.floor(n.length / 2) : 4;
    return "*****" + n.slice(n.length - shown);
  }

  // callbackView is what a callback may see of the posted fields: no CVV,
  // the card and account numbers masked, the rest as posted.
  function callbackView(requestData) {
    var out = {};
    for (var name in requestData) {
      if (!Object.prototype.hasOwnProperty.call(requestData, name) || name === "cvv") {
        continue;
      }
      var v = requestData[name];
      if (name === "card_number") {
        v = maskCardNumber(v);
      } else if (name === "account_number") {
        v = maskAccountNumber(v);
      }
      out[name] = v;
    }
    return out;
  }

  // removeFields takes every field and the button out of the page,
  // cleared first, so that nothing after a reply finds what was typed.
  // The status line stays.
  function removeFields() {
    var fields = form.querySelectorAll("[data-field]");
    for (var i = 0; i < fields.length; i++) {
      var el = fields[i];
      el.value = "";
      var wrapper = el.closest(".cv-field") || el;
      wrapper.parentNode.removeChild(wrapper);
    }
    if (submitEl.parentNode) {
      submitEl.parentNode.removeChild(submitEl);
    }
    brandEl = null;
  }

  // The fragment the result page reads is at most this long (result.js
  // refuses longer ones); a reply too large to fit is handed over as null.
  var MAX_HANDOVER = 256 * 1024;

  // handOver replaces this page, in the same window, with the result page,
  // which runs the callback for kind ("success" or "failure"). The fields
  // are gone by then; the fragment carries the reply and the callback's
  // view of the request, never the secret. location.replace also drops
  // this page's history entry, whose URL holds the secret.
  function handOver(kind, code, data, requestData) {
    var target;
    try {
      target = new URL(resultURL, window.location.href);
    } catch (e) {
      target = null;
    }
    if (!target || target.origin !== window.location.origin) {
      setStatus(kind === "success" ? messages.saved : failureMessage(code, data), kind === "success" ? "success" : "failure");
      console.error("cardvault form: the result page is not on this page's origin");
      return;
    }
    var handover = { v: 1, kind: kind, code: code, data: data, request: callbackView(requestData) };
    var fragment = encodeURIComponent(JSON.stringify(handover));
    if (fragment.length > MAX_HANDOVER) {
      handover.data = null;
      fragment = encodeURIComponent(JSON.stringify(handover));
    }
    target.hash = "";
    window.location.replace(target.href + "#" + fragment);
  }

  function finish(code, data, requestData) {
    busy = false;
    if (code >= 200 && code < 300) {
      // The submit button goes with the fields: the grant may be
      // single-use.
      removeFields();
      if (handOverSuccess) {
        setStatus("", "success");
        handOver("success", code, data, requestData);
        return;
      }
      setStatus(messages.saved, "success");
      return;
    }
    if (handOverFailure) {
      removeFields();
      setStatus("", "failure");
      handOver("failure", code, data, requestData);
      return;
    }
    setStatus(failureMessage(code, data), "failure");
    if (!FINAL[code]) {
      submitEl.disabled = false;
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (busy || submitEl.disabled) {
      return;
    }
    var data = collect();
    if (!data) {
      setStatus("Please correct the fields marked above.", "failure");
      return;
    }
    if (!captureURL || !secret) {
      setStatus("This form link is incomplete. Ask for a new link.", "failure");
      return;
    }
    busy = true;
    submitEl.disabled = true;
    setStatus("Saving…", "");
    var code = 0;
    fetch(captureURL, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-PCIVault-Capture-Secret": secret
      },
      body: JSON.stringify(data),
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer"
    }).then(function (res) {
      code = res.status;
      return res.text();
    }).then(function (text) {
      var parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        // not JSON: hand the text to the callback as it is
      }
      finish(code, parsed, data);
      data = null;
    }, function (err) {
      finish(code, String(err && err.message || err), data);
      data = null;
    });
  });
})();
