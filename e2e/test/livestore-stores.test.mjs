// Two real LiveStore stores (@livestore/adapter-node + @livestore/livestore) syncing through the server
// with makeWsSync or makeHttpSync (E2E_TRANSPORT; polling every 200 ms), committing concurrently, converge to the same state.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { makeAdapter } from '@livestore/adapter-node'
import { createStorePromise } from '@livestore/livestore'

import { fetch as undiciFetch } from 'undici'

import { closeAllClients, eventsOf, eventually, isHttp, makeClient, makeSyncBackend } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'
import { allTodos, events, schema } from '../lib/todo-schema.mjs'

// Node 20's built-in fetch cannot send through the npm undici 7 dispatcher that @livestore/adapter-node's
// dependencies install globally ("invalid content-length header"): use undici's own fetch, which matches it.
if (isHttp) globalThis.fetch = undiciFetch

let server
const stores = []
before(async () => {
  server = await startServer()
})
after(async () => {
  for (const s of stores) await s.shutdownPromise().catch(() => {})
  await closeAllClients()
  await server?.stop()
})

const makeStore = async (storeId, clientId) => {
  const store = await createStorePromise({
    schema,
    storeId,
    disableDevtools: true,
    adapter: makeAdapter({
      storage: { type: 'in-memory' },
      clientId,
      sessionId: `session-${clientId}`,
      sync: { backend: makeSyncBackend(server.url) },
    }),
  })
  stores.push(store)
  return store
}

const ROUNDS = 12
const PER_ROUND = 3

// Each round both stores commit at the same moment on top of the same head, so every round has a real
// conflict: one store's push wins, the other gets ServerAheadError, pulls the winner's events and rebases.
// The next round starts once both stores show the same table. (Commits that land while a store is still
// rebasing trip bugs in LiveStore 0.4.0 itself — lost or doubly applied own events, also against the
// original server — so they are kept out of this test.)
test('two LiveStore stores committing concurrently converge to identical state', { timeout: 120_000 }, async () => {
  // LiveStore only allows [A-Za-z0-9_-] in store ids
  const storeId = `stores-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  const [a, b] = await Promise.all([makeStore(storeId, 'client-a'), makeStore(storeId, 'client-b')])
  const snapshot = (s) => JSON.stringify(s.query(allTodos))
  const summary = (s) => s.query(allTodos).map((t) => `${t.id}${t.completed ? '+' : ''}`).join(' ')

  const expectedIds = []
  const expectedCompleted = []
  for (let r = 0; r < ROUNDS; r++) {
    for (const [store, me, other] of [[a, 'a', 'b'], [b, 'b', 'a']]) {
      const batch = []
      for (let k = 0; k < PER_ROUND; k++) {
        const id = `${me}-${String(r).padStart(2, '0')}-${k}`
        batch.push(events.todoCreated({ id, text: `${me} todo ${r}.${k} ✓ "q" 😀` }))
        expectedIds.push(id)
      }
      if (r > 0) {
        // complete one of the other store's todos from the previous round (already synced here)
        const id = `${other}-${String(r - 1).padStart(2, '0')}-${r % PER_ROUND}`
        batch.push(events.todoCompleted({ id }))
        expectedCompleted.push(id)
      }
      store.commit(...batch)
    }
    try {
      await eventually(
        () => {
          const rows = a.query(allTodos)
          return (
            rows.length === expectedIds.length &&
            rows.filter((t) => t.completed).length === expectedCompleted.length &&
            snapshot(a) === snapshot(b)
          )
        },
        { timeoutMs: 30_000, intervalMs: 25, what: `round ${r}: both stores equal with every todo` },
      )
    } catch (err) {
      throw new Error(`${err.message}\nstore a: ${summary(a)}\nstore b: ${summary(b)}`)
    }
  }

  const rows = a.query(allTodos)
  assert.deepEqual(rows.map((t) => t.id), [...expectedIds].sort())
  assert.deepEqual(rows.filter((t) => t.completed).map((t) => t.id), [...expectedCompleted].sort())
  assert.equal(snapshot(a), snapshot(b))

  // the server holds one linear log with every event exactly once
  const reader = await makeClient(server.url, storeId, { clientId: 'reader' })
  const log = eventsOf(await reader.pull())
  assert.deepEqual(log.map((e) => e.seqNum), log.map((_, i) => i + 1), 'contiguous seqNums from 1')
  assert.deepEqual(
    log.filter((e) => e.name === 'v1.TodoCreated').map((e) => e.args.id).sort(),
    [...expectedIds].sort(),
    'every todo created exactly once',
  )
  assert.equal(log.filter((e) => e.name === 'v1.TodoCompleted').length, expectedCompleted.length)
  assert.deepEqual(new Set(log.map((e) => e.clientId)), new Set(['client-a', 'client-b']))
})
