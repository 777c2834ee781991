// Browser softphone: talk to the bot through the microphone.
//
// It speaks Twilio's Media Streams protocol to the server's /voice/stream WebSocket, exactly
// as Twilio does for a phone call: the microphone goes out as 20 ms frames of 8 kHz G.711
// mu-law, and the bot's mu-law frames are played gap-free on an AudioContext. A poll of
// /softphone/calls/<sid> shows what the bot understood, and the summary on a transfer.
'use strict';

(() => {
  const RATE = 8000; // telephone audio: 8 kHz mono
  const FRAME = 160; // bytes (= samples) in 20 ms of mu-law
  const POLL_MS = 500;
  const PLAY_LEAD = 0.1; // seconds of buffer when playback (re)starts: absorbs network jitter
  const ACCOUNT_SID = 'AC' + '0'.repeat(32);

  const $ = (id) => document.getElementById(id);
  const urls = document.body.dataset;
  // Counters for people debugging audio (and for the browser test).
  const stats = (window.softphoneStats = {
    framesSent: 0, framesPlayed: 0, marksEchoed: 0, clears: 0, contextRate: 0, micRate: 0,
  });
  let call = null; // the call in progress, or the last one

  // ---- G.711 mu-law --------------------------------------------------------------------

  function muLawEncode(sample) { // a float in [-1, 1] to one mu-law byte
    let pcm = Math.round(Math.max(-1, Math.min(1, sample)) * 32767);
    const sign = pcm < 0 ? 0x80 : 0;
    pcm = Math.min(Math.abs(pcm), 32635) + 0x84; // clip, then add the bias
    let exponent = 7; // position of the highest set bit above the mantissa
    for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
    const mantissa = (pcm >> (exponent + 3)) & 0x0f;
    return ~(sign | (exponent << 4) | mantissa) & 0xff;
  }

  const MULAW_DECODE = new Float32Array(256); // mu-law byte to a float in [-1, 1]
  for (let byte = 0; byte < 256; byte++) {
    const u = ~byte & 0xff;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84;
    MULAW_DECODE[byte] = (u & 0x80 ? -magnitude : magnitude) / 32768;
  }

  const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
  const fromBase64 = (text) => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

  // ---- Microphone: context rate -> 8 kHz ---------------------------------------------------

  // Picks 8 kHz samples out of already low-passed audio by linear interpolation. `position`
  // is where the next output sample falls, in input samples from the start of the current
  // block; -1 <= position < 0 means between the previous block's last sample and this one's first.
  class Downsampler {
    constructor(fromRate) {
      this.step = fromRate / RATE;
      this.position = 0;
      this.previous = 0;
    }

    push(input) {
      const out = [];
      for (; this.position < input.length - 1; this.position += this.step) {
        const i = Math.floor(this.position);
        const a = i < 0 ? this.previous : input[i];
        out.push(a + (input[i + 1] - a) * (this.position - i));
      }
      this.position -= input.length;
      this.previous = input[input.length - 1];
      return out;
    }
  }

  // The AudioWorklet: hands blocks of 1024 samples (about 21 ms at 48 kHz) to the page.
  const WORKLET = `
    registerProcessor('softphone-capture', class extends AudioWorkletProcessor {
      constructor() { super(); this.block = new Float32Array(1024); this.filled = 0; }
      process(inputs) {
        const input = inputs[0][0]; // mono; missing while nothing is connected
        const length = input ? input.length : 128;
        for (let i = 0; i < length; i++) {
          this.block[this.filled++] = input ? input[i] : 0;
          if (this.filled === this.block.length) {
            this.port.postMessage(this.block, [this.block.buffer]);
            this.block = new Float32Array(1024);
            this.filled = 0;
          }
        }
        return true;
      }
    });`;

  async function startMicrophone(c) {
    c.mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
    stats.micRate = c.mic.getAudioTracks()[0].getSettings().sampleRate || 0;
    const ctx = c.ctx;
    let node = ctx.createMediaStreamSource(c.mic);
    // Anti-aliasing before decimation: two Butterworth low-passes, 24 dB/octave above 3.4 kHz.
    for (let i = 0; i < 2; i++) {
      const filter = new BiquadFilterNode(ctx, { type: 'lowpass', frequency: 3400, Q: Math.SQRT1_2 });
      node.connect(filter);
      node = filter;
    }
    // The capture node only runs when it leads to the speakers: through a muted gain.
    const mute = new GainNode(ctx, { gain: 0 });
    mute.connect(ctx.destination);
    const downsampler = new Downsampler(ctx.sampleRate);
    const take = (samples) => sendAudio(c, downsampler.push(samples));
    if (ctx.audioWorklet && window.AudioWorkletNode) {
      const url = URL.createObjectURL(new Blob([WORKLET], { type: 'text/javascript' }));
      await ctx.audioWorklet.addModule(url);
      URL.revokeObjectURL(url);
      c.capture = new AudioWorkletNode(ctx, 'softphone-capture');
      c.capture.port.onmessage = (event) => take(event.data);
    } else { // older browsers: the deprecated ScriptProcessorNode, on the main thread
      c.capture = ctx.createScriptProcessor(2048, 1, 1);
      c.capture.onaudioprocess = (event) => take(event.inputBuffer.getChannelData(0));
    }
    node.connect(c.capture);
    c.capture.connect(mute);
  }

  // Encodes 8 kHz samples and sends them in 160-byte frames; also drives the level meter.
  function sendAudio(c, samples) {
    let energy = 0;
    for (const sample of samples) {
      energy += sample * sample;
      c.frame[c.filled++] = muLawEncode(sample);
      if (c.filled === FRAME) {
        c.filled = 0;
        if (!c.started || c.ended) continue;
        send(c, {
          event: 'media', streamSid: c.streamSid,
          media: { track: 'inbound', chunk: String(++c.chunk), timestamp: String((c.chunk - 1) * 20),
                   payload: toBase64(c.frame) },
        });
        stats.framesSent++;
      }
    }
    if (samples.length) {
      const level = Math.min(100, Math.sqrt(energy / samples.length) * 400);
      $('level').style.width = `${level}%`;
    }
  }

  // ---- The bot's audio -----------------------------------------------------------------

  // Each frame becomes a buffer that starts exactly where the previous one ends (`playHead`,
  // in AudioContext time), so that there are no gaps; the context resamples 8 kHz itself.
  function play(c, payload) {
    const bytes = fromBase64(payload);
    if (!bytes.length) return;
    const buffer = c.ctx.createBuffer(1, bytes.length, RATE);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < bytes.length; i++) data[i] = MULAW_DECODE[bytes[i]];
    const source = new AudioBufferSourceNode(c.ctx, { buffer });
    source.connect(c.ctx.destination);
    if (c.playHead < c.ctx.currentTime) c.playHead = c.ctx.currentTime + PLAY_LEAD;
    source.start(c.playHead);
    c.playHead += buffer.duration;
    c.sources.add(source);
    source.onended = () => c.sources.delete(source);
    stats.framesPlayed++;
  }

  // A mark is due when everything queued before it has played (at once if nothing is queued).
  function queueMark(c, name) {
    c.marks.push({ name, at: c.playHead });
    echoDueMarks(c);
  }

  function echoDueMarks(c) {
    while (c.marks.length && c.marks[0].at <= c.ctx.currentTime) echoMark(c, c.marks.shift().name);
  }

  function echoMark(c, name) {
    send(c, { event: 'mark', streamSid: c.streamSid, mark: { name } });
    stats.marksEchoed++;
  }

  // The caller barged in (or hung up): silence now, forget queued audio, answer every mark.
  function clearPlayback(c) {
    for (const source of c.sources) source.stop();
    c.sources.clear();
    c.playHead = 0;
    for (const mark of c.marks.splice(0)) echoMark(c, mark.name);
  }

  // ---- The call ------------------------------------------------------------------------

  function send(c, message) {
    if (!c.ws || c.ws.readyState !== WebSocket.OPEN) return;
    if (message.event !== 'connected') message.sequenceNumber = String(++c.sequence);
    c.ws.send(JSON.stringify(message));
  }

  async function startCall() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      setStatus('The microphone needs a secure page: open this over https or http://localhost.', 'error');
      return;
    }
    const c = (call = {
      sequence: 0, chunk: 0, frame: new Uint8Array(FRAME), filled: 0, playHead: 0,
      sources: new Set(), marks: [], turnsShown: 0, timers: [],
      started: false, watching: false, ended: false,
      streamSid: 'MZ' + Array.from(crypto.getRandomValues(new Uint8Array(16)),
        (b) => b.toString(16).padStart(2, '0')).join(''),
    });
    c.ctx = new AudioContext({ latencyHint: 'interactive' }); // inside the click: allowed to play
    stats.contextRate = c.ctx.sampleRate;
    resetView();
    setButton(true);
    setStatus('Starting the call…');
    try {
      const response = await fetch(urls.sessionUrl, { method: 'POST' });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const session = await response.json();
      c.sid = session.call_sid;
      c.token = session.token;
      setStatus('Waiting for the microphone…');
      await startMicrophone(c);
      await c.ctx.resume();
      if (c.ended) { // hung up while we waited
        c.mic.getTracks().forEach((track) => track.stop());
        return;
      }
      connect(c, session.stream_url);
    } catch (error) {
      const reason = error.name === 'NotAllowedError' ? 'microphone access was refused'
        : error.name === 'NotFoundError' ? 'no microphone was found' : error.message;
      endCall(c, `Could not start the call: ${reason}.`);
    }
  }

  function connect(c, streamUrl) {
    setStatus('Connecting…');
    c.ws = new WebSocket(streamUrl);
    c.ws.onopen = () => {
      send(c, { event: 'connected', protocol: 'Call', version: '1.0.0' });
      send(c, {
        event: 'start', streamSid: c.streamSid,
        start: {
          streamSid: c.streamSid, accountSid: ACCOUNT_SID, callSid: c.sid, tracks: ['inbound'],
          customParameters: { token: c.token },
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: RATE, channels: 1 },
        },
      });
      c.started = true;
      setStatus('Connected. Listen to the assistant, then speak.', 'live');
      c.timers.push(setInterval(() => echoDueMarks(c), 20));
    };
    c.ws.onmessage = (event) => {
      // The server has started the call once it talks: from now on there is a call to show.
      if (!c.watching) {
        c.watching = true;
        c.timers.push(setInterval(() => poll(c), POLL_MS));
      }
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.event === 'media' && message.media?.payload) play(c, message.media.payload);
      else if (message.event === 'mark' && message.mark) queueMark(c, message.mark.name);
      else if (message.event === 'clear') { stats.clears++; clearPlayback(c); }
    };
    // The server closes the stream when the bot transfers or ends the call.
    c.ws.onclose = () => endCall(c, c.started ? null : 'Could not connect to the voice server.');
  }

  // Ends the call from either side. `problem` is shown instead of the usual status.
  function endCall(c, problem, { hangUp = false } = {}) {
    if (c.ended) return;
    c.ended = true;
    if (hangUp && c.ws?.readyState === WebSocket.OPEN) {
      clearPlayback(c);
      send(c, { event: 'stop', streamSid: c.streamSid, stop: { accountSid: ACCOUNT_SID, callSid: c.sid } });
      c.ws.close(1000, 'caller hung up');
    }
    c.mic?.getTracks().forEach((track) => track.stop());
    c.capture?.disconnect();
    c.timers.forEach(clearInterval);
    // Let the bot's last words play out, then let go of the audio device.
    const left = Math.max(0, c.playHead - c.ctx.currentTime);
    setTimeout(() => c.ctx.close(), left * 1000 + 250);
    setButton(false);
    $('level').style.width = '0';
    if (problem) {
      setStatus(problem, 'error');
    } else {
      setStatus('Call ended.', 'done');
      finalPolls(c, 6); // pick up the last turn and the transfer
    }
  }

  async function finalPolls(c, left) {
    const view = await poll(c);
    if (call !== c) return;
    if (view?.transfer) {
      setStatus('Transferred to a person. On a phone line an agent would pick up now, '
        + 'with the summary below.', 'done');
    } else if (left > 1) {
      setTimeout(() => finalPolls(c, left - 1), POLL_MS);
    } else {
      setStatus(`Call ended${view ? ` (${view.status})` : ''}.`, 'done');
    }
  }

  async function poll(c) {
    if (c.polling) return null;
    c.polling = true;
    try {
      const response = await fetch(urls.callsUrl.replace('CALL_SID', c.sid), {
        headers: { 'X-Softphone-Token': c.token }, cache: 'no-store',
      });
      if (!response.ok) return null; // 404 until the server has started the call
      const view = await response.json();
      if (call === c) render(c, view);
      return view;
    } catch {
      return null; // a missed poll is retried by the next one
    } finally {
      c.polling = false;
    }
  }

  // ---- The page ------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // never innerHTML: this is caller speech
    return node;
  }

  function line(className, who, text) {
    const p = el('p', className);
    p.append(el('span', 'who', who), el('span', 'text', text));
    return p;
  }

  function turnItem(turn) {
    const item = el('li', `turn ${turn.kind}`);
    item.dataset.seq = turn.seq;
    if (['speech', 'digits', 'no_input'].includes(turn.kind)) {
      const said = turn.kind === 'no_input' ? '(silence)'
        : turn.heard ? `“${turn.heard}”` : `pressed ${turn.digits || '?'}`;
      const caller = item.appendChild(line('caller', 'You', said));
      if (turn.intent) {
        const confidence = turn.intent_confidence == null ? ''
          : ` ${Math.round(turn.intent_confidence * 100)}%`;
        const badge = caller.appendChild(el('span', 'intent', `${turn.intent}${confidence}`));
        badge.dataset.intent = turn.intent;
        badge.title = 'intent and confidence';
      }
    }
    if (turn.action) {
      item.append(el('p', `action ${turn.action_ok ? 'ok' : 'failed'}`,
        `ran ${turn.action}: ${turn.action_ok ? 'succeeded' : 'failed'}`));
    }
    if (turn.reply) item.append(line('bot', 'Bot', turn.reply));
    return item;
  }

  function render(c, view) {
    const list = $('transcript');
    const fresh = view.turns.slice(c.turnsShown);
    if (fresh.length) {
      list.querySelector('.empty')?.remove();
      for (const turn of fresh) list.append(turnItem(turn));
      c.turnsShown = view.turns.length;
      list.lastElementChild.scrollIntoView({ block: 'nearest' });
    }
    if (view.transfer && $('transfer').hidden) showTransfer(view.transfer);
  }

  function showTransfer(transfer) {
    const summary = transfer.summary || {};
    $('transfer-reason').textContent = transfer.reason;
    $('transfer-wants').textContent = summary.caller_wants || 'not known yet';
    const slots = Object.entries(summary.slots || {});
    $('transfer-slots').textContent = slots.length
      ? slots.map(([name, value]) => `${name.replace(/_/g, ' ')}: ${value}`).join(', ') : 'none';
    $('transfer-spoken').textContent = summary.spoken || '';
    $('transfer').dataset.trigger = transfer.trigger;
    $('transfer').hidden = false;
    $('transfer').scrollIntoView({ block: 'nearest' });
  }

  function resetView() {
    $('transfer').hidden = true;
    $('transcript').replaceChildren(el('li', 'empty', 'Nothing yet.'));
  }

  function setStatus(text, kind = '') {
    $('status').textContent = text;
    $('status').className = `status ${kind}`;
  }

  function setButton(inCall) {
    $('call').textContent = inCall ? 'Hang up' : 'Call';
    $('call').classList.toggle('hangup', inCall);
    document.body.classList.toggle('in-call', inCall);
  }

  function pressKey(digit) {
    if (!call || call.ended || !call.started) return;
    send(call, { event: 'dtmf', streamSid: call.streamSid, dtmf: { track: 'inbound_track', digit } });
    const button = document.querySelector(`[data-digit="${CSS.escape(digit)}"]`);
    button?.classList.add('pressed');
    setTimeout(() => button?.classList.remove('pressed'), 150);
  }

  $('call').addEventListener('click', () => {
    if (call && !call.ended) {
      endCall(call, null, { hangUp: true });
    } else {
      startCall();
    }
  });
  $('keypad').addEventListener('click', (event) => {
    const digit = event.target.closest('[data-digit]')?.dataset.digit;
    if (digit) pressKey(digit);
  });
  document.addEventListener('keydown', (event) => {
    if (/^[0-9*#]$/.test(event.key) && !event.repeat) pressKey(event.key);
  });
  window.addEventListener('pagehide', () => call && endCall(call, null, { hangUp: true }));
})();
