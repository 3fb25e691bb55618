// Live updates over FHIR Subscriptions with a websocket channel (R4 Subscriptions Backport;
// docs/iomt.md, "Subscriptions"): one Subscription per topic (created once per browser tab and
// person, then reused), a single-use binding token per connection, `bind-with-token TOKEN`, then
// notification Bundles whose SubscriptionStatus names the focus resource. Reconnects with
// backoff when the socket closes.
import { type Bundle, get, request, type RequestOptions, type Resource } from '../fhir';

export const ALERT_TOPIC = 'https://sund.dk/fhir/SubscriptionTopic/alert';
export const NEWS2_TOPIC = 'https://sund.dk/fhir/SubscriptionTopic/news2';
const PAYLOAD_CONTENT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';

export type LiveState = 'connecting' | 'live' | 'offline' | 'failed';
type ChannelState = LiveState | 'unavailable'; // the server does not offer the topic

interface Parameter { name: string; valueString?: string; valueUrl?: string; valueUri?: string;
  valueCanonical?: string; valueReference?: { reference?: string }; part?: Parameter[] }

/** The focus references a notification Bundle names (none for a handshake or heartbeat). */
export function focusesOf(bundle: Bundle): { topic?: string; focus: string[] } {
  const status = bundle.entry?.[0]?.resource as (Resource & { parameter?: Parameter[] }) | undefined;
  const params = status?.parameter ?? [];
  const topic = params.find((p) => p.name === 'topic')?.valueCanonical;
  const focus: string[] = [];
  for (const p of params) {
    if (p.name !== 'notification-event') continue;
    const ref = p.part?.find((x) => x.name === 'focus')?.valueReference?.reference;
    if (ref) focus.push(ref);
  }
  return { topic, focus };
}

class Channel {
  private ws: WebSocket | null = null;
  private retry = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private subscriptionId: string | null = null;
  private activating = 0; // binding attempts while the new Subscription is not active yet

  constructor(
    private readonly topic: string,
    private readonly opts: RequestOptions,
    private readonly storageKey: string,
    private readonly onFocus: (ref: string, topic: string) => void,
    private readonly onState: (s: ChannelState, reconnected: boolean) => void,
  ) {}

  private async subscription(): Promise<string> {
    if (this.subscriptionId) return this.subscriptionId;
    const saved = sessionStorage.getItem(this.storageKey);
    if (saved) {
      try {
        const sub = await get<Resource & { status?: string }>(`Subscription/${saved}`, this.opts);
        if (sub.status === 'active' || sub.status === 'requested') return (this.subscriptionId = saved);
      } catch { /* gone: create another */ }
    }
    const created = await request<Resource>('Subscription', {
      ...this.opts,
      method: 'POST',
      body: {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Sund monitoring worklist',
        criteria: this.topic,
        channel: {
          type: 'websocket',
          payload: 'application/fhir+json',
          _payload: { extension: [{ url: PAYLOAD_CONTENT, valueCode: 'id-only' }] },
        },
      },
    });
    const id = created.body.id ?? '';
    // The server activates a new Subscription a moment after storing it (or sets it to error
    // when it does not offer the topic); its binding token is only given once it is active.
    for (let i = 0; i < 50 && !this.stopped; i++) {
      const sub = await get<Resource & { status?: string }>(`Subscription/${id}`, this.opts);
      if (sub.status !== 'requested') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.subscriptionId = id;
    sessionStorage.setItem(this.storageKey, id);
    return id;
  }

  async connect(reconnected = false): Promise<void> {
    if (this.stopped) return;
    if (!reconnected) this.onState('connecting', false);
    let token: string;
    let url: string;
    try {
      const id = await this.subscription();
      const p = await get<Resource & { parameter?: Parameter[] }>(`Subscription/${id}/$get-ws-binding-token`, this.opts);
      const find = (n: string) => p.parameter?.find((x) => x.name === n);
      token = find('token')?.valueString ?? '';
      const wsUrl = find('websocket-url');
      url = wsUrl?.valueUrl ?? wsUrl?.valueUri ?? wsUrl?.valueString ?? '';
      if (!token || !url) throw new Error('no binding token');
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401 || status === 403) {
        this.onState('failed', false);
        return;
      }
      if (status === 404 && this.subscriptionId) {
        // Refused (the Subscription is in error: the server does not offer the topic), gone, or
        // not active yet (the server activates a new Subscription a moment after creating it).
        let sub: (Resource & { status?: string }) | null = null;
        let gone = false;
        try {
          sub = await get<Resource & { status?: string }>(`Subscription/${this.subscriptionId}`, this.opts);
        } catch (err) {
          gone = (err as { status?: number }).status === 404 || (err as { status?: number }).status === 410;
        }
        if (sub?.status === 'error') {
          sessionStorage.removeItem(this.storageKey);
          this.stopped = true;
          this.onState('unavailable', false);
          return;
        }
        if (gone) {
          sessionStorage.removeItem(this.storageKey);
          this.subscriptionId = null;
        } else if (this.activating < 20) {
          this.activating++;
          clearTimeout(this.timer);
          this.timer = setTimeout(() => { void this.connect(reconnected); }, 100 * this.activating);
          return;
        }
      }
      this.later(reconnected, this.retry > 3 ? 'failed' : 'offline');
      return;
    }
    this.activating = 0;
    if (this.stopped) return;
    // The server's URL names its host as the request saw it; use this page's host.
    const u = new URL(url, location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    u.host = location.host;
    const ws = new WebSocket(u.href);
    this.ws = ws;
    let first = true;
    ws.onopen = () => ws.send(`bind-with-token ${token}`);
    ws.onmessage = (m) => {
      let bundle: Bundle;
      try { bundle = JSON.parse(String(m.data)) as Bundle; } catch { return; }
      if (first) { // the handshake: the binding works
        first = false;
        this.retry = 0;
        this.onState('live', reconnected);
      }
      for (const f of focusesOf(bundle).focus) this.onFocus(f, this.topic);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.later(true, this.retry > 3 ? 'failed' : 'offline');
    };
  }

  private later(reconnected: boolean, state: LiveState) {
    if (this.stopped) return;
    this.onState(state, false);
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.retry, 5));
    this.retry++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { void this.connect(reconnected); }, delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws?.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close();
    else ws?.close();
  }
}

/** Live notifications of several topics. onState hears the combined state. */
export class LiveFeed {
  private channels: Channel[];
  private states: ChannelState[];

  constructor(topics: string[], opts: RequestOptions, user: string,
    onFocus: (ref: string, topic: string) => void,
    onState: (s: LiveState, reconnected: boolean) => void) {
    this.states = topics.map(() => 'connecting');
    this.channels = topics.map((topic, i) => new Channel(topic, opts, `sund.sub.${user}.${topic}`, onFocus,
      (st, reconnected) => {
        this.states[i] = st;
        const all = this.states.filter((x) => x !== 'unavailable');
        if (all.length === 0) all.push('failed');
        const combined: LiveState = all.includes('failed') ? 'failed' : all.includes('offline') ? 'offline'
          : all.includes('connecting') ? 'connecting' : 'live';
        onState(combined, reconnected);
      }));
  }

  start() {
    for (const c of this.channels) void c.connect();
  }

  stop() {
    for (const c of this.channels) c.stop();
  }
}
