/* leadflow tracking snippet (hand-written, no dependencies). Include it with one tag:
 *   <script async src="https://leadflow.example.com/t.js" data-site="SITE_KEY"></script>
 * It keeps an anonymous visitor id in a first-party cookie (lf_aid), sends a page view per
 * page, and adds the visitor id, the visit's landing page, referrer and UTM parameters to
 * every form marked <form data-leadflow="FORM_KEY"> when it is submitted. A link carrying
 * ?lf_id=<signed token> (an identified email click) ties the visitor to that contact. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.leadflow) return;
  var site = script.getAttribute("data-site");
  var base = new URL(script.src, location.href).origin;
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var YEAR = 365 * 24 * 3600;

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function cookie(name) {
    var found = document.cookie.match(new RegExp("(?:^|; )" + name + "=([A-Za-z0-9_-]{8,64})"));
    return found ? found[1] : null;
  }

  function visitorId() {
    var id = cookie("lf_aid") || randomId();
    var secure = location.protocol === "https:" ? "; Secure" : "";
    // Written again on every page so the year runs from the last visit.
    document.cookie = "lf_aid=" + id + "; Max-Age=" + YEAR + "; Path=/; SameSite=Lax" + secure;
    return id;
  }

  // Where this visit began: the first page of the session, with its referrer and UTM.
  function visitSource() {
    var kept = null;
    try { kept = JSON.parse(sessionStorage.getItem("lf_visit") || "null"); } catch (e) {}
    if (kept) return kept;
    var params = new URL(location.href).searchParams;
    kept = { landing_page: location.href, referrer: document.referrer || "" };
    UTM.forEach(function (k) { kept[k] = params.get(k) || ""; });
    try { sessionStorage.setItem("lf_visit", JSON.stringify(kept)); } catch (e) {}
    return kept;
  }

  function send(path, body) {
    var data = JSON.stringify(body);
    // text/plain keeps the post a "simple" cross-origin request: no preflight needed.
    if (navigator.sendBeacon && navigator.sendBeacon(base + path, new Blob([data], { type: "text/plain" }))) return;
    fetch(base + path, { method: "POST", body: data, keepalive: true, mode: "no-cors",
      headers: { "Content-Type": "text/plain" } });
  }

  function hidden(form, name, value) {
    var input = form.querySelector('input[name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  function prepare(form, id, source) {
    var key = form.getAttribute("data-leadflow");
    if (key && !form.getAttribute("action")) {
      form.action = base + "/f/" + encodeURIComponent(key);
      form.method = "post";
    }
    hidden(form, "lf_anonymous_id", id);
    Object.keys(source).forEach(function (k) { hidden(form, "lf_" + k, source[k]); });
  }

  function identify(id) {
    var url = new URL(location.href);
    var token = url.searchParams.get("lf_id");
    if (!token) return;
    send("/t/identify", { site: site, anonymous_id: id, token: token });
    // The token names a person: it should not stay in the address bar, history or shares.
    url.searchParams.delete("lf_id");
    history.replaceState(history.state, "", url.toString());
  }

  var id = visitorId();
  var source = visitSource();
  identify(id);
  send("/t/pv", {
    site: site, anonymous_id: id, view_id: randomId(),
    url: location.href, title: document.title, referrer: document.referrer || null,
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.hasAttribute && form.hasAttribute("data-leadflow")) prepare(form, id, source);
  }, true);
  window.leadflow = { anonymousId: id };
})();
