/* The live console (/console/live): transfers ringing the signed-in agent arrive over
   server-sent events and are shown as cards; Accept and Decline answer them through the
   console's JSON endpoints. Everything the server sends goes onto the page as text
   (textContent), never as HTML: transcripts are what callers said. */
"use strict";

(function () {
  const root = document.getElementById("live");
  if (!root) {
    return;
  }
  const statusLine = document.getElementById("live-status");
  const noCalls = document.getElementById("no-calls");
  const cards = new Map(); // call SID -> card element
  const LEVELS = "▁▂▃▄▅▆▇█";
  const KEYPAD = "Your phone's keypad still works: 1 takes the call, 2 passes it.";

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function definitions(pairs, className) {
    const list = el("dl", null, className);
    for (const [term, value] of pairs) {
      if (value === undefined || value === null || value === "") {
        continue;
      }
      list.append(el("dt", term), el("dd", value));
    }
    return list;
  }

  function table(headers, rows, className) {
    const result = el("table", null, className);
    const head = result.createTHead().insertRow();
    for (const header of headers) {
      head.append(el("th", header));
    }
    const body = result.createTBody();
    for (const cells of rows) {
      const row = body.insertRow();
      for (const cell of cells) {
        row.append(el("td", cell));
      }
    }
    return result;
  }

  function score(value) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(2);
  }

  function sparkline(values) {
    return values.map((value) => value === null || value === undefined ? "·"
      : LEVELS[Math.min(7, Math.max(0, Math.round((Number(value) + 1) / 2 * 7)))]).join("");
  }

  let waiting = false; // the status line says "waiting for calls"

  function setStatus(text, isWaiting) {
    statusLine.textContent = text;
    waiting = Boolean(isWaiting);
    updateEmpty();
  }

  // While a call rings, its card says all there is: "waiting for calls" goes (any other
  // status, such as reconnecting, stays), and comes back when no card is ringing.
  function updateEmpty() {
    const ringing = [...cards.values()].some((card) => !card.classList.contains("ended"));
    noCalls.hidden = ringing;
    statusLine.hidden = waiting && ringing;
  }

  function reasonText(summary) {
    const words = summary.trigger_words || summary.trigger;
    return summary.reason.toLowerCase().includes(words.toLowerCase()) ? summary.reason
      : `${summary.reason} (${words})`;
  }

  function summaryList(summary) {
    const intents = summary.intents.map((item) =>
      `${item.intent}${item.confidence === null ? "" : " (" + score(item.confidence) + ")"}`);
    const pairs = [
      ["Reason", reasonText(summary)],
      ["The caller wants", summary.wants || "not known yet"],
      ["Already answered by the assistant",
       summary.answered && summary.answered.length ? summary.answered.join(", ") : null],
      ["All requests", summary.requests.length > 1 ? summary.requests.join(", ") : null],
      ["Intents", intents.join(", ") || "none recognised"],
    ];
    for (const [name, value] of Object.entries(summary.slots)) {
      pairs.push([name, value === null ? "-" : String(value)]);
    }
    for (const action of summary.actions) {
      pairs.push([`Action ${action.name}`,
        (action.ok ? "ok" : "failed") + (action.said ? ": " + action.said : "")]);
    }
    if (summary.earlier_calls_30_days) {
      pairs.push(["Earlier calls (30 days)", summary.earlier_calls_30_days]);
    }
    if (summary.duration_seconds !== null && summary.duration_seconds !== undefined) {
      pairs.push(["With the assistant", `${summary.duration_seconds} s`]);
    }
    return definitions(pairs, "summary");
  }

  function sentimentLine(values, trend) {
    const line = el("p", null, "sentiment");
    if (!values.some((value) => value !== null && value !== undefined)) {
      line.textContent = "Not measured for this call.";
      return line;
    }
    line.append(el("span", sparkline(values), "sparkline"), " ",
      el("span", values.map(score).join(", "), "values"));
    if (trend) {
      line.append(" ", el("span", `(${trend})`, "muted"));
    }
    return line;
  }

  function transcriptTable(turns) {
    return table(["#", "What happened", "Caller", "Understood as", "Bot", "Sentiment"],
      turns.map((turn) => [
        turn.seq,
        turn.kind + (turn.action ? `: ${turn.action} (${turn.action_ok ? "ok" : "failed"})` : ""),
        [turn.heard ? `“${turn.heard}”` : "", turn.digits ? `keyed ${turn.digits}` : ""]
          .filter(Boolean).join(" "),
        turn.intent ? turn.intent + (turn.confidence === null ? "" : ` (${score(turn.confidence)})`)
          : "",
        turn.reply || "",
        turn.sentiment === null ? "" : score(turn.sentiment),
      ]), "transcript");
  }

  function pastContacts(contacts) {
    if (contacts.length === 0) {
      return el("p", "No earlier calls from this caller.", "muted past-contacts");
    }
    return table(["When", "What they wanted", "How it ended"],
      contacts.map((contact) => [contact.date, contact.wanted, contact.outcome]),
      "past-contacts");
  }

  function render(data) {
    const existing = cards.get(data.call_sid);
    if (existing && !existing.classList.contains("ended")) {
      return; // sent again after a reconnect
    }
    const card = el("section", null, "card incoming");
    card.dataset.call = data.call_sid;
    card.append(
      el("h2", `Incoming call: ${data.summary.wants || data.summary.reason}`),
      el("p", `Ringing you since ${data.ringing_since_local}` +
        (data.queue ? `, ${data.queue} queue` : "") +
        (data.attempt > 1 ? `, after ${data.attempt - 1} other agent(s)` : ""), "muted"));
    const answers = el("div", null, "answer");
    const accept = el("button", "Accept", "accept");
    const decline = el("button", "Decline", "decline");
    accept.type = decline.type = "button";
    accept.addEventListener("click", () => answer(card, data.call_sid, "accept"));
    decline.addEventListener("click", () => answer(card, data.call_sid, "decline"));
    answers.append(accept, decline, el("span", null, "message"));
    answers.lastChild.setAttribute("role", "status");
    card.append(answers,
      el("h3", "Summary"), el("p", data.summary.spoken, "spoken"), summaryList(data.summary),
      el("h3", "Caller sentiment per turn (-1 to 1)"),
      sentimentLine(data.sentiment, data.summary.sentiment_trend),
      el("h3", "Transcript"), transcriptTable(data.transcript),
      el("h3", "Earlier contacts"), pastContacts(data.past_contacts));
    if (existing) {
      existing.replaceWith(card);
    } else {
      root.prepend(card);
    }
    cards.set(data.call_sid, card);
    updateEmpty();
  }

  function finish(card, text, callUrl) {
    if (card.classList.contains("ended")) {
      if (callUrl && !card.querySelector("a.open-call")) {
        card.querySelector(".answer").append(link(callUrl));
      }
      return;
    }
    card.classList.add("ended");
    const answers = card.querySelector(".answer");
    for (const button of answers.querySelectorAll("button")) {
      button.remove();
    }
    answers.querySelector(".message").textContent = text;
    if (callUrl) {
      answers.append(link(callUrl));
    }
    updateEmpty();
  }

  function link(callUrl) {
    const anchor = el("a", "Open the call (and say how the assistant did)", "open-call");
    anchor.href = callUrl;
    return anchor;
  }

  async function answer(card, callSid, choice) {
    const buttons = card.querySelectorAll(".answer button");
    const message = card.querySelector(".answer .message");
    buttons.forEach((button) => { button.disabled = true; });
    message.textContent = choice === "accept" ? "Taking the call…" : "Passing the call on…";
    let body;
    try {
      const response = await fetch(
        root.dataset[choice].replace("CALLSID", encodeURIComponent(callSid)), {
          method: "POST",
          credentials: "same-origin",
          redirect: "manual",
          headers: {"X-CSRFToken": root.dataset.csrf, "Accept": "application/json"},
        });
      if ((response.headers.get("Content-Type") || "").startsWith("application/json")) {
        body = await response.json();
      } else if (response.type === "opaqueredirect") {
        body = {ok: false, message: "You are signed out: reload the page and sign in. " + KEYPAD};
      } else {
        body = {ok: false, message: "This page has expired: reload it. " + KEYPAD};
      }
    } catch (error) {
      body = {ok: false, message: "The server could not be reached. " + KEYPAD};
    }
    if (!body.ok) {
      message.textContent = body.message;
      buttons.forEach((button) => { button.disabled = false; });
      if (body.result === "not-ringing-you") {
        finish(card, body.message, null);
      }
      return;
    }
    finish(card, body.message, body.call_url || null);
  }

  const source = new EventSource(root.dataset.events);
  source.addEventListener("open", () => setStatus("Connected: waiting for calls.", true));
  source.addEventListener("incoming", (event) => render(JSON.parse(event.data)));
  source.addEventListener("gone", (event) => {
    const data = JSON.parse(event.data);
    const card = cards.get(data.call_sid);
    if (!card) {
      return;
    }
    finish(card, data.outcome === "taken-by-you" ? "You took this call."
      : "No longer ringing you: passed on, taken elsewhere, or the caller hung up.",
    data.call_url);
  });
  source.addEventListener("ready", (event) => {
    const ringing = new Set(JSON.parse(event.data).ringing);
    for (const [callSid, card] of cards) {
      if (!ringing.has(callSid)) {
        finish(card, "No longer ringing you.", null);
      }
    }
  });
  source.addEventListener("signed-out", () => {
    source.close();
    setStatus("You were signed out: reload the page and sign in.");
  });
  source.addEventListener("error", () => {
    setStatus(source.readyState === EventSource.CLOSED
      ? "Disconnected: reload the page (are you still signed in?)"
      : "Reconnecting…");
  });
  updateEmpty();
})();
