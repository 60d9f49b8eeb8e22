// The real LiveStore 0.3.1 sync client (`makeCfSync` from @livestore/sync-cf@0.3.1), driven through
// 0.3.1's SyncBackend interface (pull once per backend, push, isConnected), wrapped in promises for
// node:test. The client connects to `${url}/websocket?storeId=…[&payload=…]` by itself.
import WS from 'ws'

// Node 20 has no global WebSocket; 0.3.1's client uses the global one. The subclass records the
// sockets the clients open, so tests can drop them (the client reconnects by itself).
const sockets = new Set()
const openWaiters = new Set()
class TrackedWebSocket extends WS {
  constructor(...args) {
    super(...args)
    sockets.add(this)
    this.once('close', () => sockets.delete(this))
    this.once('open', () => {
      for (const w of openWaiters) w(this)
      openWaiters.clear()
    })
  }
}
/** Resolves with the next socket a 0.3.1 client opens, once it is open. */
export const nextOpenSocket03 = () => new Promise((resolve) => openWaiters.add(resolve))
globalThis.WebSocket = TrackedWebSocket
/** WebSockets opened by the 0.3.1 clients and not closed yet. */
export const liveSockets03 = () => [...sockets]

import { makeCfSync } from '@livestore/sync-cf'
import { Duration, Effect, Exit, FetchHttpClient, Fiber, Layer, Option, Scope, Stream, SubscriptionRef } from '@livestore/utils/effect'

const run = (effect, timeoutMs = 30_000) =>
  Effect.runPromise(
    effect.pipe(
      Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new Error(`timed out after ${timeoutMs} ms`) }),
    ),
  )

const openClients = new Set()

/** A LiveStore 0.3 global encoded event. */
export const event03 = (seqNum, parentSeqNum, opts = {}) => ({
  name: opts.name ?? 'v1.TodoCreated',
  args: opts.args !== undefined ? opts.args : { id: `todo-${seqNum}`, text: `Todo ${seqNum}`, completed: false },
  seqNum,
  parentSeqNum,
  clientId: opts.clientId ?? 'client-03',
  sessionId: opts.sessionId ?? 'session-03',
})

/** Events from..to (inclusive), each parented on the previous one; opts.args may be a function of seqNum. */
export const events03 = (from, to, opts = {}) => {
  const out = []
  for (let s = from; s <= to; s++) out.push(event03(s, s - 1, { ...opts, args: typeof opts.args === 'function' ? opts.args(s) : opts.args }))
  return out
}

/**
 * A 0.3.1 client of `storeId` at the base URL `url` (http://… is turned into ws://…). Its pull stream
 * (at most one per client, as in 0.3.1) is started with `follow(cursor)`: it collects every page,
 * the pull's and the broadcasts, as 0.3.1's client yields them.
 */
export const makeClient03 = async (url, storeId, opts = {}) => {
  const scope = Effect.runSync(Scope.make())
  const wsUrl = url.replace(/^http/, 'ws')
  const env = await Effect.runPromise(Layer.build(FetchHttpClient.layer).pipe(Scope.extend(scope)))
  const backend = await run(
    makeCfSync({ url: wsUrl })({ storeId, clientId: opts.clientId ?? 'client-03', payload: opts.payload }).pipe(
      Effect.provide(env),
      Scope.extend(scope),
    ),
  )
  let fiber
  const client = {
    backend,
    isConnected: () => Effect.runSync(SubscriptionRef.get(backend.isConnected)),
    waitConnected: (timeoutMs = 20_000) => run(SubscriptionRef.waitUntil(backend.isConnected, (c) => c === true), timeoutMs),
    /** Resolves undefined, or rejects with the InvalidPushError. */
    push: (events, timeoutMs) => run(backend.push(events).pipe(Effect.provide(env)), timeoutMs),
    pushResult: (events, timeoutMs) =>
      run(
        backend.push(events).pipe(
          Effect.provide(env),
          Effect.either,
          Effect.map((e) => (e._tag === 'Right' ? { ok: true } : { ok: false, error: e.left })),
        ),
        timeoutMs,
      ),
    /**
     * Starts the pull stream after `cursor` (undefined: from the beginning). Returns { pages, seqNums(),
     * events(), caughtUp(), waitFor(pred, ms, what) }.
     */
    follow: (cursor) => {
      const pages = []
      const waiters = new Set()
      const args = cursor === undefined ? Option.none() : Option.some({ cursor: { global: cursor, client: 0 }, metadata: Option.none() })
      fiber = Effect.runFork(
        backend.pull(args).pipe(
          Stream.runForEach((page) =>
            Effect.sync(() => {
              pages.push(page)
              for (const w of waiters) w()
            }),
          ),
          Effect.provide(env),
        ),
      )
      const f = {
        pages,
        events: () => pages.flatMap((p) => p.batch.map((b) => b.eventEncoded)),
        seqNums: () => f.events().map((e) => e.seqNum),
        caughtUp: () => pages.some((p) => p.remaining === 0),
        waitFor: (pred, timeoutMs = 15_000, what = 'condition') =>
          new Promise((resolve, reject) => {
            const check = () => {
              if (pred(f)) {
                cleanup()
                resolve(f)
              }
            }
            const timer = setTimeout(() => {
              cleanup()
              reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got seqNums ${JSON.stringify(f.seqNums())}`))
            }, timeoutMs)
            const cleanup = () => {
              clearTimeout(timer)
              waiters.delete(check)
            }
            waiters.add(check)
            check()
          }),
      }
      return f
    },
    close: async () => {
      if (!openClients.has(client)) return
      openClients.delete(client)
      if (fiber) await Effect.runPromise(Fiber.interrupt(fiber))
      await Effect.runPromise(Scope.close(scope, Exit.void))
    },
  }
  openClients.add(client)
  return client
}

export const closeAllClients03 = async () => {
  for (const c of [...openClients]) await c.close()
}

let seq = 0
export const uniqueStoreId03 = (label = 'e2e03') => `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${(seq++).toString(36)}`

/** Asserts that seqNums are exactly 1..n (or from..to), in order: no gap, no duplicate. */
export const isRange = (seqNums, from, to) => seqNums.length === to - from + 1 && seqNums.every((s, i) => s === from + i)
