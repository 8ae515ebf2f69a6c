// The live event stream (WatchEvents): what MatgtoClient.watchEvents() and
// session.events() resolve to.
import { status as GrpcStatus, type ClientReadableStream } from '@grpc/grpc-js';
import type { Event } from './gen/matgto/v1/control.js';
import { MatgtoError, toMatgtoError } from './errors.js';

/** Options of `watchEvents()`. Filters are ANDed; unset: every session / cassette. */
export interface WatchEventsOptions {
  /** Only this session's events (its `id`; `"default"` for the default session). */
  session?: string;
  /** Only this cassette's events. */
  cassette?: string;
  /** Aborting it closes the stream (a pending `next()` then resolves `done`). */
  signal?: AbortSignal;
}

/** Events buffered before the stream stops reading (gRPC flow control then holds the server back, which drops for this watcher and says so in `dropped`). */
const HIGH_WATER = 1024;

/**
 * Follows the server's events, live: an async iterable of the generated
 * `Event` messages (`time`, `dropped`, and one of `exchange` / `miss` /
 * `session`). Iteration waits for the next event; it ends when `close()` is
 * called (or the signal aborts, or a `for await` loop breaks) and when the
 * server shuts down. A failed call rejects with a `MatgtoError` subclass.
 * `event.dropped > 0`: this watcher read too slowly and lost that many events
 * just before `event`; `dropped` here is the total.
 */
export class EventStream implements AsyncIterableIterator<Event>, AsyncDisposable {
  /** Events lost so far (the sum of every `event.dropped`). */
  dropped = 0;
  readonly #call: ClientReadableStream<Event>;
  readonly #queue: Event[] = [];
  #waiters: { resolve: (r: IteratorResult<Event>) => void; reject: (e: unknown) => void }[] = [];
  #error: MatgtoError | undefined;
  #ended = false;
  #closed = false;
  #paused = false;
  readonly #unlisten: () => void;

  /** @internal Use `MatgtoClient.watchEvents()`. */
  constructor(call: ClientReadableStream<Event>, signal?: AbortSignal) {
    this.#call = call;
    call.on('data', (event: Event) => {
      const waiter = this.#waiters.shift();
      if (waiter) {
        this.dropped += event.dropped;
        waiter.resolve({ value: event, done: false });
        return;
      }
      this.#queue.push(event);
      if (this.#queue.length >= HIGH_WATER && !this.#paused) {
        this.#paused = true;
        call.pause();
      }
    });
    call.on('error', (err: unknown) => {
      if (!this.#closed) this.#error = toMatgtoError(err, 'WatchEvents');
      this.#finish();
    });
    call.on('end', () => this.#finish());
    const onAbort = () => this.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#unlisten = () => signal?.removeEventListener('abort', onAbort);
  }

  /** @internal Resolves once the server has subscribed (sent its headers); rejects if the call failed first. */
  subscribed(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#error) return reject(this.#error);
      if (this.#ended) return resolve();
      this.#call.once('metadata', () => resolve());
      this.#call.once('status', () => (this.#error ? reject(this.#error) : resolve()));
      this.#call.once('error', (err: unknown) => reject(this.#error ?? toMatgtoError(err, 'WatchEvents')));
    });
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#unlisten();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (this.#error) {
        w.reject(this.#error);
        this.#error = undefined; // reported once
      } else {
        w.resolve({ value: undefined, done: true });
      }
    }
  }

  /** True once closed or finished. */
  get closed(): boolean {
    return this.#closed || this.#ended;
  }

  next(): Promise<IteratorResult<Event>> {
    const event = this.#queue.shift();
    if (event) {
      if (this.#paused && this.#queue.length < HIGH_WATER / 2) {
        this.#paused = false;
        this.#call.resume();
      }
      this.dropped += event.dropped;
      return Promise.resolve({ value: event, done: false });
    }
    if (this.#error) {
      const err = this.#error;
      this.#error = undefined;
      return Promise.reject(err);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Called when a `for await` loop exits early: closes the stream. */
  async return(): Promise<IteratorResult<Event>> {
    this.close();
    return { value: undefined, done: true };
  }

  /** Stops watching (cancels the call); pending `next()` calls resolve `done`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#error = undefined;
    this.#call.cancel();
    this.#finish();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** `await using events = await client.watchEvents()` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** @internal The error for a signal already aborted when `watchEvents()` is called. */
export function abortedError(signal: AbortSignal): unknown {
  return signal.reason ?? new MatgtoError(GrpcStatus.CANCELLED, 'aborted', { rpc: 'WatchEvents' });
}
