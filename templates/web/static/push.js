// Web Push for the web chat: where the browser can, a button offers "tell me when there is a
// reply"; permission is asked only when it is pressed, never on load. The service worker
// (/sw.js, in the page's language) shows the office's nudge while the page is closed.
(function () {
  "use strict";
  const button = document.getElementById("notify");
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window) || !window.Notification) return;
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const lang = document.documentElement.lang;
  const registered = navigator.serviceWorker.register("/sw.js?lang=" + encodeURIComponent(lang), { scope: "/" });

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function done() {
    button.textContent = strings.push_on;
    button.disabled = true;
  }

  async function keep(subscription) {
    const response = await fetch("/api/chat/push", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Satupintu-Chat": "1" },
      body: JSON.stringify(subscription.toJSON()),
    });
    if (response.ok) done();
  }

  registered.then(async (registration) => {
    const existing = await registration.pushManager.getSubscription();
    if (existing && Notification.permission === "granted") { await keep(existing); return; }
    if (Notification.permission !== "denied") button.hidden = false;
  }).catch(() => { /* no service worker here (e.g. plain http): no button */ });

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") { button.hidden = true; return; }
      const registration = await registered;
      const key = (await (await fetch("/api/chat/push/key", { credentials: "same-origin" })).json()).key;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(key),
      });
      await keep(subscription);
    } catch (error) {
      button.disabled = false; // the push service was unreachable: the citizen may try again
    }
  });
})();
