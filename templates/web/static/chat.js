// Web chat: a thin view over /api/chat. The server decides everything; this draws replies,
// sends answers, and keeps an unsent answer in the box when the connection fails. New messages
// (an officer's question, the news of a ticket) arrive on a Server-Sent Events stream; where
// that is missing or keeps failing, the page asks for them every few seconds instead.
(function () {
  "use strict";
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const log = document.getElementById("log");
  const form = document.getElementById("compose");
  const text = document.getElementById("text");
  const notice = document.getElementById("notice");
  const locationButton = document.getElementById("location");
  const photoLabel = document.getElementById("photo-label");
  const photoInput = document.getElementById("photo");
  let lastId = 0; // the highest message id shown: where the next read starts
  const shownIds = new Set(); // a late message can have a lower id than one already shown
  let current = null; // the newest bot message: its step tags button presses
  let busy = false;
  const lang = document.documentElement.lang; // the page's language: new chats start in it
  const api = (path) => path + "?lang=" + encodeURIComponent(lang);

  function clientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function add(kind, body) {
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = body;
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  // The newest buttons, the location/photo button and the notice sit just above the sticky text
  // box at the end of the page: scroll there so none of them hides under it or below the fold.
  function toEnd() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function clearOptions() {
    document.querySelectorAll(".options").forEach((el) => el.remove());
    locationButton.hidden = true;
    photoLabel.hidden = true;
  }

  function show(messages) {
    for (const message of messages) {
      if (shownIds.has(message.id)) continue; // the stream and a post both bring replies
      shownIds.add(message.id);
      lastId = Math.max(lastId, message.id);
      clearOptions();
      add("bot", message.text);
      current = message;
      if (message.options && message.options.length) {
        const box = document.createElement("div");
        box.className = "options";
        box.setAttribute("role", "group");
        for (const option of message.options) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = option.title;
          button.dataset.value = option.value;
          if (option.description) {
            const small = document.createElement("small");
            small.textContent = option.description;
            button.appendChild(small);
          }
          button.addEventListener("click", () => choose(message, option));
          box.appendChild(button);
        }
        log.appendChild(box);
        box.scrollIntoView({ block: "end" });
      }
      if (message.request === "location") {
        locationButton.querySelector("span").textContent = message.request_label;
        locationButton.hidden = false;
      }
      if (message.request === "photo") {
        photoLabel.querySelector("span").textContent = message.request_label;
        photoLabel.hidden = false;
      }
    }
    toEnd();
  }

  async function post(url, body, isForm) {
    if (busy) return false; // a double tap sends once
    busy = true;
    notice.hidden = true;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: isForm ? { "X-Satupintu-Chat": "1" } : { "Content-Type": "application/json", "X-Satupintu-Chat": "1" },
        body: isForm ? body : JSON.stringify(body),
      });
      if (response.status === 401) { window.location.reload(); return false; }
      if (response.status === 400) { // refused, not lost: say so in the server's kind words
        notice.textContent = (await response.json()).message;
        notice.hidden = false;
        toEnd();
        return false;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      show(data.messages);
      return true;
    } catch (error) {
      notice.textContent = strings.offline;
      notice.hidden = false;
      toEnd();
      return false;
    } finally {
      busy = false;
    }
  }

  async function choose(message, option) {
    if (busy) return; // a double tap sends once, and shows once
    const shown = add("me", option.title);
    if (!(await post(api("/api/chat/send"), { client_id: clientId(), value: option.value, step: message.step, after: lastId }))) {
      shown.remove();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    const id = form.dataset.pending || clientId(); // a retry of the same answer keeps its id
    form.dataset.pending = id;
    const shown = add("me", value);
    if (await post(api("/api/chat/send"), { client_id: id, text: value, after: lastId })) {
      text.value = "";
      delete form.dataset.pending;
    } else {
      shown.remove();
    }
  });

  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  locationButton.addEventListener("click", () => {
    if (!navigator.geolocation) { notice.textContent = strings.no_location; notice.hidden = false; return; }
    navigator.geolocation.getCurrentPosition(
      async (position) => {
        if (busy) return;
        const shown = add("me", "📍 " + position.coords.latitude.toFixed(5) + ", " + position.coords.longitude.toFixed(5));
        if (!(await post(api("/api/chat/send"), { client_id: clientId(), latitude: position.coords.latitude, longitude: position.coords.longitude, after: lastId }))) {
          shown.remove();
        }
      },
      () => { notice.textContent = strings.no_location; notice.hidden = false; },
      { enableHighAccuracy: true, timeout: 15000 }
    );
  });

  photoInput.addEventListener("change", () => {
    const file = photoInput.files && photoInput.files[0];
    if (!file) return;
    add("me", "📷 " + file.name);
    const body = new FormData();
    body.append("client_id", clientId());
    body.append("after", String(lastId));
    body.append("photo", file);
    post(api("/api/chat/photo"), body, true).finally(() => { photoInput.value = ""; });
  });

  // The ID/EN links also tell the bot, so its next words are in the chosen language too.
  document.querySelectorAll("header nav a").forEach((link) => {
    link.addEventListener("click", async (event) => {
      const wanted = new URL(link.href).searchParams.get("lang");
      if (!wanted || wanted === lang) return;
      event.preventDefault();
      await post("/api/chat/send?lang=" + encodeURIComponent(wanted), { client_id: clientId(), value: "lang:" + wanted, after: lastId });
      window.location.href = link.href;
    });
  });

  // ------------------------------------------------------------------ live: stream, else polling
  const RETRIES_BEFORE_POLLING = 5; // failed stream connections in a row before polling instead
  const POLL_MS = 5000;
  const POLLS_BEFORE_RETRY = 12; // then the stream is tried again (about a minute later)
  let failures = 0;

  function live() {
    if (!window.EventSource) { poll(Infinity); return; }
    failures = 0;
    // A dropped stream reconnects by itself and sends the last id it got (Last-Event-ID); the
    // `after` here only counts for this first connection.
    const source = new EventSource("/api/chat/stream?after=" + lastId);
    source.addEventListener("open", () => { failures = 0; });
    source.addEventListener("message", (event) => {
      failures = 0;
      show([JSON.parse(event.data)]);
    });
    source.addEventListener("error", () => {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= RETRIES_BEFORE_POLLING) {
        source.close(); // refused (e.g. the session is gone) or failing again and again
        poll(POLLS_BEFORE_RETRY);
      }
    });
  }

  async function poll(times) {
    for (let done = 0; done < times; done++) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      try {
        const response = await fetch("/api/chat/messages?after=" + lastId, { credentials: "same-origin" });
        if (response.status === 401) { window.location.reload(); return; }
        if (response.ok) show((await response.json()).messages);
      } catch (error) { /* offline: the next round tries again */ }
    }
    live();
  }

  async function load() {
    try {
      for (;;) { // the server answers in pages of 100: read them all, up to the current question
        const response = await fetch("/api/chat/messages?after=" + lastId, { credentials: "same-origin" });
        const data = await response.json();
        if (!data.messages.length) break;
        show(data.messages);
      }
    } catch (error) { /* the first post below reports the trouble */ }
    if (!lastId) await post(api("/api/chat/send"), { client_id: clientId(), text: "/" + strings.start, after: lastId });
    live();
  }
  load();
})();
