// Several livestore-sync nodes on one PostgreSQL database (runs when the suite runs on PostgreSQL:
// `npm test` with LIVESTORE_SYNC_TEST_POSTGRES set): LiveStore clients on different nodes converge, a
// live pull on a third node sees every push in order exactly once, and pushes racing at one parent
// on two nodes give one success and one ServerAheadError.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvents, uniqueStoreId } from '../lib/clients.mjs'
import { postgresDatabaseUrl, startServer } from '../lib/server.mjs'

const skip = postgresDatabaseUrl ? false : 'runs on PostgreSQL only (set LIVESTORE_SYNC_TEST_POSTGRES)'

let nodes = []
before(async () => {
  if (skip) return
  nodes = await Promise.all([1, 2, 3].map(() => startServer()))
})
after(async () => {
  await closeAllClients()
  await Promise.all(nodes.map((n) => n.stop()))
})

test('clients on node 1 and node 3 converge; a live pull on node 2 sees every push once, in order', { skip, timeout: 60_000 }, async () => {
  const storeId = uniqueStoreId('nodes')
  const a = await makeClient(nodes[0].url, storeId, { clientId: 'client-a' })
  const b = await makeClient(nodes[2].url, storeId, { clientId: 'client-b' })
  const watcher = await makeClient(nodes[1].url, storeId, { clientId: 'client-c' })
  const live = watcher.live()
  await live.waitFor((l) => l.pages.length >= 1, 10_000, 'first page on node 2')

  const fromA = makeEvents(1, 5, { clientId: 'client-a' })
  await a.push(fromA)
  assert.deepEqual(eventsOf(await b.pull()), fromA, 'node 3 serves what node 1 stored')
  const fromB = makeEvents(6, 10, { clientId: 'client-b' })
  await b.push(fromB)
  assert.deepEqual(eventsOf(await a.pull()), [...fromA, ...fromB], 'node 1 serves what node 3 stored')
  const more = makeEvents(11, 12, { clientId: 'client-a' })
  await a.push(more)

  const all = [...fromA, ...fromB, ...more]
  await live.waitFor((l) => l.events().length >= all.length, 20_000, 'every push on node 2')
  assert.deepEqual(live.events(), all, 'node 2 saw each event once, in order')
  await live.stop()
})

test('pushes racing at one parent on two nodes: one succeeds, the other gets ServerAheadError', { skip, timeout: 60_000 }, async () => {
  const storeId = uniqueStoreId('nodes-race')
  const a = await makeClient(nodes[0].url, storeId, { clientId: 'client-a' })
  const b = await makeClient(nodes[2].url, storeId, { clientId: 'client-b' })
  await a.push(makeEvents(1, 2, { clientId: 'client-a' }))
  await b.pull()
  const [ra, rb] = await Promise.all([
    a.pushResult(makeEvents(3, 3, { clientId: 'client-a' })),
    b.pushResult(makeEvents(3, 3, { clientId: 'client-b' })),
  ])
  const results = [ra, rb]
  assert.equal(results.filter((r) => r.ok).length, 1, `one push wins: ${JSON.stringify(results)}`)
  const lost = results.find((r) => !r.ok)
  assert.equal(lost.error?._tag, 'ServerAheadError', `the other is told the server is ahead: ${JSON.stringify(lost)}`)
  const stored = eventsOf(await a.pull())
  assert.equal(stored.length, 3)
})
