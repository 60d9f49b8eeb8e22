// Mixed versions on one store: the real 0.3.1 client (makeCfSync) next to the real 0.4.0 clients
// (makeWsSync and makeHttpSync, from ../lib/clients.mjs with e2e/'s own packages): each sees the
// other's events, in order, exactly once. This is the roll-out of an upgrade from 0.3 to 0.4.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, makeClient, makeEvents } from '../../lib/clients.mjs'
import { isReference, startServer } from '../../lib/server.mjs'
import { closeAllClients03, event03, events03, isRange, makeClient03, uniqueStoreId03 } from '../lib/client03.mjs'

// The original 0.3.1 server speaks no 0.4: nothing to run against it.
const skip = isReference ? 'the original 0.3.1 server speaks no 0.4' : false

let server
before(async () => {
  if (!skip) server = await startServer()
})
after(async () => {
  await closeAllClients()
  await closeAllClients03()
  await server?.stop()
})

test('0.3.1 and 0.4.0 (ws) clients on one store see each other’s events in order, exactly once', { timeout: 60_000, skip }, async () => {
  const store = uniqueStoreId03('mixed')
  const old = await makeClient03(server.url, store, { clientId: 'v03' })
  const fOld = old.follow()
  await fOld.waitFor((x) => x.caughtUp(), 10_000, '0.3 caught up')
  const cur = await makeClient(server.url, store, { transport: 'ws', clientId: 'v04' })
  const live = cur.live()

  await old.push(events03(1, 3, { clientId: 'v03' }))
  await live.waitFor((l) => l.seqNums().length >= 3, 10_000, '0.4 sees e1..e3')
  await cur.push(makeEvents(4, 6, { clientId: 'v04' }))
  await fOld.waitFor((x) => x.seqNums().length >= 6, 10_000, '0.3 sees e4..e6')
  await old.push(events03(7, 7, { clientId: 'v03' }))
  await live.waitFor((l) => l.seqNums().length >= 7, 10_000, '0.4 sees e7')
  await fOld.waitFor((x) => x.seqNums().length >= 7, 10_000, '0.3 sees its own e7')

  assert.ok(isRange(fOld.seqNums(), 1, 7), `0.3: ${fOld.seqNums()}`)
  assert.ok(isRange(live.seqNums(), 1, 7), `0.4: ${live.seqNums()}`)
  assert.deepEqual(fOld.events().map((e) => e.clientId), ['v03', 'v03', 'v03', 'v04', 'v04', 'v04', 'v03'])
  assert.deepEqual(live.events(), fOld.events(), 'byte-equal events on both sides')
  // A new 0.4 client pulls the 0.3 client's events, and the reverse.
  const pages = await (await makeClient(server.url, store, { transport: 'ws' })).pull()
  assert.equal(pages.flatMap((p) => p.batch).length, 7)
})

test('conflicts across versions: one push wins, both clients converge on the winner', { timeout: 60_000, skip }, async () => {
  const store = uniqueStoreId03('mixed-race')
  const old = await makeClient03(server.url, store, { clientId: 'v03' })
  const fOld = old.follow()
  await fOld.waitFor((x) => x.caughtUp(), 10_000, '0.3 caught up')
  const cur = await makeClient(server.url, store, { transport: 'ws', clientId: 'v04' })
  const live = cur.live()
  for (let round = 1; round <= 5; round++) {
    const [r3, r4] = await Promise.all([
      old.pushResult([event03(round, round - 1, { clientId: 'v03', args: { round, by: '0.3' } })]),
      cur.pushResult(makeEvents(round, round, { clientId: 'v04', args: { round, by: '0.4' } })),
    ])
    assert.equal(Number(r3.ok) + Number(r4.ok), 1, `round ${round}: exactly one wins`)
    if (!r4.ok) assert.equal(r4.error._tag, 'ServerAheadError', JSON.stringify(r4.error))
  }
  await fOld.waitFor((x) => x.seqNums().length >= 5, 10_000, '0.3 has 5 events')
  await live.waitFor((l) => l.seqNums().length >= 5, 10_000, '0.4 has 5 events')
  assert.ok(isRange(fOld.seqNums(), 1, 5))
  assert.deepEqual(live.events(), fOld.events())
})

test('a 0.4.0 HTTP client’s pushes reach 0.3.1 clients live', { timeout: 30_000, skip }, async () => {
  const store = uniqueStoreId03('mixed-http')
  const old = await makeClient03(server.url, store, { clientId: 'v03' })
  const fOld = old.follow()
  await fOld.waitFor((x) => x.caughtUp(), 10_000, '0.3 caught up')
  const http = await makeClient(server.url, store, { transport: 'http', clientId: 'v04-http' })
  await http.push(makeEvents(1, 2, { clientId: 'v04-http' }))
  await fOld.waitFor((x) => x.seqNums().length >= 2, 10_000, 'e1, e2')
  assert.deepEqual(fOld.seqNums(), [1, 2])
})
