// The client's `payload` option (sent double-encoded in the URL and inside every request) is accepted.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvents, uniqueStoreId } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

const payloads = [
  { authToken: 'insecure-token-change-me', userId: 'user 1', tags: ['a&b', 'c=d', 'ünï', '100%', '%25', 'x+y', '😀', '#frag', '?q'] },
  'just a string with spaces & % and 😀',
  42,
  [1, { nested: { deeper: ['x'] } }],
  { big: 'p'.repeat(2000) },
]

for (const [i, payload] of payloads.entries()) {
  test(`payload ${i + 1} (${typeof payload === 'object' ? JSON.stringify(payload).slice(0, 30) : payload}): sync works`, async () => {
    const storeId = uniqueStoreId(`payload${i}`)
    const a = await makeClient(server.url, storeId, { payload })
    await a.connect()
    assert.equal(a.isConnected(), true)
    await a.push(makeEvents(1, 2))
    assert.deepEqual(eventsOf(await a.pull()).map((e) => e.seqNum), [1, 2])

    // live pull of a payload client fed by a client without payload, and the reverse
    const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
    await b.pull()
    const liveA = a.live(2)
    const liveB = b.live(2)
    await Promise.all([liveA, liveB].map((l) => l.waitFor((x) => x.pages.length >= 1, 5_000, 'history page')))
    await b.push(makeEvents(3, 3, { clientId: 'client-b' }))
    await a.push(makeEvents(4, 4))
    for (const l of [liveA, liveB]) {
      await l.waitFor((x) => x.events().length >= 2, 10_000, 'both pushes')
      assert.deepEqual(l.seqNums(), [3, 4])
    }
    await liveA.stop()
    await liveB.stop()
  })
}
