// The page's only way to the server: fetch with the API key (when the server asks for one) and a reader for
// server-sent events. fetch is used instead of EventSource because EventSource cannot send the key header.

const KEY = 'ragtune-api-key';
let askingKey = null;

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function headers(extra) {
  const h = new Headers(extra || {});
  const key = sessionStorage.getItem(KEY);
  if (key) h.set('Authorization', 'Bearer ' + key);
  return h;
}

function askForKey() {
  if (askingKey) return askingKey;
  const dialog = document.getElementById('key-dialog');
  askingKey = new Promise(resolve => {
    dialog.addEventListener('close', () => {
      sessionStorage.setItem(KEY, document.getElementById('api-key').value.trim());
      askingKey = null;
      resolve();
    }, { once: true });
    dialog.showModal();
  });
  return askingKey;
}

/** fetch under /api or /v1; throws ApiError with the server's message on a failure status. */
export async function request(path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(path, { ...options, headers: headers(options.headers) });
    if (response.status === 401 && attempt < 3) { await askForKey(); continue; }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error.message; } catch { /* not JSON */ }
      throw new ApiError(response.status, message);
    }
    return response;
  }
}

export async function json(path, body, method) {
  const options = body === undefined ? { method: method || 'GET' }
    : { method: method || 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

/** Reads a text/event-stream body, calling onEvent(name, data) per event until the stream ends. */
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

/**
 * Follows a job's progress until it is final. Each (re)connection starts with the job's whole state and curve, so
 * onProgress gets (job, points, replaced): replaced is true when points is the full curve rather than new ones.
 * A dropped connection is retried; the job itself runs on the server regardless.
 */
export async function followJob(id, onProgress) {
  for (let retry = 0; retry < 30; retry++) {
    let first = true, final = null;
    try {
      const response = await request(`/api/jobs/${encodeURIComponent(id)}/events`);
      await readEvents(response, (name, data) => {
        if (name === 'progress') { onProgress(data.job, data.points, first); first = false; }
        else if (name === 'end') final = data;
      });
      if (final) return final;
    } catch (e) {
      if (e instanceof ApiError && e.status !== 429) throw e;
    }
    await new Promise(r => setTimeout(r, 1000));
  }
  throw new Error(`Lost the progress stream of job ${id}.`);
}

export function formatEta(seconds) {
  if (seconds == null) return '';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`;
}
