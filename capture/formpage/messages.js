// cardvault hosted form: the messages that both the card page (form.js) and
// the result page (result.js) show, kept in one place. Only cardvault's own
// scripts run on these pages.
window.cardvaultMessages = (function () {
  "use strict";

  var FAILURES = {
    0: "The form could not reach the server. Check your connection and try again.",
    400: "The details were refused.",
    401: "This form is no longer valid. Ask for a new link.",
    403: "This form is no longer valid. Ask for a new link.",
    404: "This form has expired. Ask for a new link.",
    410: "This form has expired. Ask for a new link.",
    413: "The details are too large.",
    422: "The details were refused.",
    423: "This form is locked after too many attempts. Ask for a new link.",
    429: "Too many attempts. Wait a moment and try again."
  };

  return Object.freeze({
    saved: "Saved.",
    nothing: "There is nothing to show here.",
    // failure returns what to tell the visitor after a reply of that
    // status (0: no reply).
    failure: function (code) {
      return FAILURES[code] ||
        (code >= 500 ? "Something went wrong on our side. Please try again." : "The details could not be saved.");
    }
  });
})();
