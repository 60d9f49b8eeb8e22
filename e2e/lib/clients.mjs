// Real LiveStore sync clients (`makeWsSync` or `makeHttpSync` from @livestore/sync-cf/client, chosen by
// E2E_TRANSPORT or the `transport` option), driven through LiveStore's SyncBackend interface (connect, ping, pull, push, isConnected), wrapped in promises for node:test.
import WS from 'ws'

// Node 20 has no global WebSocket; the client uses Effect's global-WebSocket constructor layer.
// The subclass only records every socket the clients open, so tests can look at their state.
// With E2E_TRACE_FRAMES=1 every frame is also kept in memory (see tracedFrames()), for debugging.
const sockets = new Set()
const traceFrames = process.env.E2E_TRACE_FRAMES === '1'
const frames = []
let socketSeq = 0
class TrackedWebSocket extends WS {
  constructor(...args) {
    super(...args)
    const id = ++socketSeq
    sockets.add(this)
    this.once('close', () => sockets.delete(this))
    if (traceFrames) {
      this.on('message', (data) => frames.push({ socket: id, dir: 'in', t: Date.now(), text: data.toString() }))
      const send = this.send.bind(this)
      this.send = (data, ...rest) => {
        frames.push({ socket: id, dir: 'out', t: Date.now(), text: data.toString() })
        return send(data, ...rest)
      }
    }
  }
}
/** Frames seen so far (only with E2E_TRACE_FRAMES=1): { socket, dir: 'in'|'out', t, text }. */
export const tracedFrames = () => frames
globalThis.WebSocket = TrackedWebSocket
/** WebSockets opened by the clients that are not fully closed yet. */
export const liveSockets = () => [...sockets]

import { makeHttpSync, makeWsSync } from '@livestore/sync-cf/client'

/** The transport the suite runs over: E2E_TRANSPORT=ws (default) or http. */
export const transport = process.env.E2E_TRANSPORT ?? 'ws'
if (transport !== 'ws' && transport !== 'http') throw new Error(`E2E_TRANSPORT must be ws or http, not ${transport}`)
export const isHttp = transport === 'http'
/** Skip reason for tests that only make sense over WebSocket (or false). */
export const skipOnHttp = (why) => (isHttp ? `WebSocket only (E2E_TRANSPORT=http): ${why}` : false)
/** Skip reason for tests that only make sense over HTTP (or false). */
export const skipUnlessHttp = (why) => (isHttp ? false : `HTTP only (runs with E2E_TRANSPORT=http): ${why}`)

/** Live-pull poll interval of the HTTP client in tests (LiveStore's default is 5 s). */
export const HTTP_POLL_INTERVAL_MS = 200

/**
 * LiveStore's sync backend constructor for `transport`: makeWsSync({url}) or
 * makeHttpSync({url, livePull: {pollInterval: 200 ms}}). `extra` is merged into the options (e.g. ping).
 */
export const makeSyncBackend = (url, t = transport, extra = {}) =>
  t === 'http'
    ? makeHttpSync({ url, livePull: { pollInterval: HTTP_POLL_INTERVAL_MS }, ...extra })
    : makeWsSync({ url, ...extra })
import {
  Chunk,
  Context,
  Duration,
  Effect,
  Exit,
  FetchHttpClient,
  Fiber,
  KeyValueStore,
  Layer,
  Option,
  Scope,
  Stream,
  SubscriptionRef,
} from '@livestore/utils/effect'

export { Option }

const DEFAULT_TIMEOUT_MS = 30_000

let storeSeq = 0
/** A store id unique to this run: `${label}-<time>-<random>-<n>`. */
export const uniqueStoreId = (label = 'e2e') =>
  `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${(storeSeq++).toString(36)}`

/** A LiveStore global encoded event as the sync backend sees it. */
export const makeEvent = (seqNum, parentSeqNum, opts = {}) => ({
  name: opts.name ?? 'todoCreated-v1',
  args: opts.args !== undefined ? opts.args : { id: `todo-${seqNum}`, text: `Todo number ${seqNum}`, completed: false },
  seqNum,
  parentSeqNum,
  clientId: opts.clientId ?? 'client-a',
  sessionId: opts.sessionId ?? 'session-a',
})

/** Events from..to (inclusive), each parented on the previous one. `opts.args` may be a function of seqNum. */
export const makeEvents = (from, to, opts = {}) => {
  const out = []
  for (let s = from; s <= to; s++) {
    const args = typeof opts.args === 'function' ? opts.args(s) : opts.args
    out.push(makeEvent(s, s - 1, { ...opts, args }))
  }
  return out
}

/** SyncBackend cursor for "everything after seqNum" (undefined = from the beginning). */
export const cursorAt = (seqNum) =>
  seqNum === undefined ? Option.none() : Option.some({ eventSequenceNumber: seqNum, metadata: Option.none() })

/** All events of pull pages, in order. */
export const eventsOf = (pages) => pages.flatMap((p) => p.batch.map((b) => b.eventEncoded))
export const seqNumsOf = (pages) => eventsOf(pages).map((e) => e.seqNum)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const run = (effect, timeoutMs = DEFAULT_TIMEOUT_MS) =>
  Effect.runPromise(
    effect.pipe(
      Effect.timeoutFail({
        duration: Duration.millis(timeoutMs),
        onTimeout: () => new Error(`timed out after ${timeoutMs} ms`),
      }),
    ),
  )

/** Runs an effect that may fail with a typed error: resolves { ok: true, value } or { ok: false, error }. */
const runEither = (effect, timeoutMs) =>
  run(
    effect.pipe(
      Effect.either,
      Effect.map((e) => (e._tag === 'Right' ? { ok: true, value: e.right } : { ok: false, error: e.left })),
    ),
    timeoutMs,
  )

const openClients = new Set()

/**
 * Creates a sync client for `storeId` against `url`: makeWsSync or makeHttpSync, chosen by opts.transport
 * ('ws' | 'http', default E2E_TRANSPORT or 'ws'). Same wrapper API for both.
 * opts.backendId: pre-seed the client's KeyValueStore with this backendId (as if it had synced before).
 * opts.payload: the client's `payload` (goes into the URL and every request).
 */
export const makeClient = async (url, storeId, opts = {}) => {
  const scope = Effect.runSync(Scope.make())
  const env = await Effect.runPromise(
    Layer.build(Layer.mergeAll(FetchHttpClient.layer, KeyValueStore.layerMemory)).pipe(Scope.extend(scope)),
  )
  const kv = Context.get(env, KeyValueStore.KeyValueStore)
  if (opts.backendId !== undefined) await Effect.runPromise(kv.set('backendId', opts.backendId))

  const clientTransport = opts.transport ?? transport
  const backend = await run(
    makeSyncBackend(url, clientTransport, opts.ping ? { ping: opts.ping } : {})({
      storeId,
      clientId: opts.clientId ?? 'client-a',
      payload: opts.payload,
    }).pipe(Effect.provide(env), Scope.extend(scope)),
  )

  const liveFibers = new Set()
  let closed = false

  const client = {
    storeId,
    backend,
    transport: clientTransport,
    /** SyncBackend.connect (ws: waits for the next Pong; http: sends one Ping). */
    connect: (timeoutMs) => run(backend.connect, timeoutMs),
    /** SyncBackend.ping (ws: waits for the next Pong, at most 10 s; http: sends one Ping). */
    ping: (timeoutMs) => run(backend.ping, timeoutMs),
    isConnected: () => Effect.runSync(SubscriptionRef.get(backend.isConnected)),
    /**
     * Waits until the client is connected. ws: until isConnected is true (the client reconnects by itself).
     * http: there is no connection to re-establish and the client's background Ping loop ends for good on a
     * failed Ping (e.g. connection refused), so this sends Pings (connect) until one succeeds.
     */
    waitConnected: async (timeoutMs = 40_000) => {
      if (clientTransport !== 'http') {
        await run(SubscriptionRef.waitUntil(backend.isConnected, (c) => c === true), timeoutMs)
        return
      }
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const r = await runEither(backend.connect, Math.max(1, deadline - Date.now())).catch((error) => ({ ok: false, error }))
        if (r.ok && Effect.runSync(SubscriptionRef.get(backend.isConnected))) return
        if (Date.now() >= deadline) throw new Error(`http client not connected after ${timeoutMs} ms: ${r.error}`)
        await sleep(200)
      }
    },
    /** The backendId the client has learned from pull responses (KeyValueStore key `backendId`). */
    backendId: () => Effect.runPromise(kv.get('backendId')).then(Option.getOrUndefined),
    /** Non-live pull after `cursorSeqNum` (undefined = from the start); resolves all pages. */
    pull: (cursorSeqNum, timeoutMs) =>
      run(backend.pull(cursorAt(cursorSeqNum)).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray)), timeoutMs),
    pullResult: (cursorSeqNum, timeoutMs) =>
      runEither(backend.pull(cursorAt(cursorSeqNum)).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray)), timeoutMs),
    push: (events, timeoutMs) => run(backend.push(events), timeoutMs),
    /**
     * Non-live pull whose consumer runs `onPage(page, index)` (may return a promise) before taking the next
     * page: a slow consumer holds back the client's Acks (it acks a Chunk once its 16-page buffer has room).
     */
    pullSlow: (cursorSeqNum, onPage, timeoutMs) =>
      run(
        backend.pull(cursorAt(cursorSeqNum)).pipe(
          Stream.zipWithIndex,
          Stream.mapEffect(([page, i]) => Effect.promise(async () => (await onPage(page, i), page))),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray),
        ),
        timeoutMs,
      ),
    pushResult: (events, timeoutMs) => runEither(backend.push(events), timeoutMs),
    /**
     * Live pull after `cursorSeqNum`. Returns { pages, events(), waitFor(pred, ms), done, stop() }.
     * `done` resolves with { ok, error? } when the stream ends (error: the typed failure, e.g. IsOfflineError).
     */
    live: (cursorSeqNum) => {
      const pages = []
      const waiters = new Set()
      const notify = () => {
        for (const w of waiters) w()
      }
      const fiber = Effect.runFork(
        backend.pull(cursorAt(cursorSeqNum), { live: true }).pipe(
          Stream.runForEach((page) =>
            Effect.sync(() => {
              pages.push({ ...page, receivedAt: Date.now() })
              notify()
            }),
          ),
          Effect.either,
        ),
      )
      liveFibers.add(fiber)
      let result
      const done = Effect.runPromise(Fiber.await(fiber)).then((exit) => {
        liveFibers.delete(fiber)
        if (Exit.isSuccess(exit)) {
          const e = exit.value
          result = e._tag === 'Right' ? { ok: true } : { ok: false, error: e.left }
        } else {
          result = { ok: false, interrupted: Exit.isInterrupted(exit), cause: exit.cause }
        }
        notify()
        return result
      })
      const live = {
        pages,
        done,
        events: () => eventsOf(pages),
        seqNums: () => seqNumsOf(pages),
        /** Resolves once pred(live) is true; rejects after timeoutMs (or if the stream ended first). */
        waitFor: (pred, timeoutMs = 15_000, what = 'condition') =>
          new Promise((resolve, reject) => {
            const check = () => {
              if (pred(live)) {
                cleanup()
                resolve(live)
              } else if (result !== undefined) {
                cleanup()
                reject(new Error(`live pull ended (${JSON.stringify(result.error ?? result)}) before ${what}`))
              }
            }
            const timer = setTimeout(() => {
              cleanup()
              reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got seqNums ${JSON.stringify(live.seqNums())}`))
            }, timeoutMs)
            const cleanup = () => {
              clearTimeout(timer)
              waiters.delete(check)
            }
            waiters.add(check)
            check()
          }),
        stop: async () => {
          await Effect.runPromise(Fiber.interrupt(fiber))
          await done
        },
      }
      return live
    },
    close: async () => {
      if (closed) return
      closed = true
      openClients.delete(client)
      for (const f of liveFibers) await Effect.runPromise(Fiber.interrupt(f))
      await Effect.runPromise(Scope.close(scope, Exit.void))
    },
  }
  openClients.add(client)
  return client
}

/** Closes every client still open (call in `after`). */
export const closeAllClients = async () => {
  for (const c of [...openClients]) await c.close()
}

/** Polls `fn` until it returns a truthy value; rejects after timeoutMs with the last value/error. */
export const eventually = async (fn, { timeoutMs = 15_000, intervalMs = 100, what = 'condition' } = {}) => {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    try {
      last = await fn()
      if (last) return last
    } catch (err) {
      last = err
    }
    await sleep(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`)
}
