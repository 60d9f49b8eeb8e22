// Live pull: history first, then other clients' pushes; exactly-once delivery while pushes stream in.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvents, Option, uniqueStoreId } from '../lib/clients.mjs'
import { skipOnReference, startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

test('live pull on an empty store delivers one empty NoMore page promptly', async () => {
  const a = await makeClient(server.url, uniqueStoreId('live-empty'))
  const live = a.live()
  await live.waitFor((l) => l.pages.length >= 1, 5_000, 'first page')
  assert.deepEqual(live.pages[0].batch, [])
  assert.deepEqual(live.pages[0].pageInfo, { _tag: 'NoMore' })
  assert.ok(await a.backendId(), 'backendId learned from the first live page')
  await live.stop()
})

test("live pull receives another client's push", async () => {
  const storeId = uniqueStoreId('live')
  const a = await makeClient(server.url, storeId, { clientId: 'client-a' })
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  await a.push(makeEvents(1, 3))
  await a.pull()

  const live = a.live(3)
  await live.waitFor((l) => l.pages.length >= 1, 5_000, 'history page')
  const pushed = makeEvents(4, 5, { clientId: 'client-b', sessionId: 'session-b' })
  await b.push(pushed)
  await live.waitFor((l) => l.events().length >= 2, 10_000, 'pushed events')
  assert.deepEqual(live.events(), pushed)
  const item = live.pages.flatMap((p) => p.batch).at(-1)
  assert.ok(Option.isSome(item.metadata), 'live events carry metadata')
  assert.match(item.metadata.value.createdAt, /Z$/)
  // the pusher's own live pull gets its events too
  await b.pull()
  const liveB = b.live(5)
  await liveB.waitFor((l) => l.pages.length >= 1, 5_000, 'history page of b')
  const more = makeEvents(6, 6, { clientId: 'client-b', sessionId: 'session-b' })
  await b.push(more)
  await liveB.waitFor((l) => l.events().length >= 1, 10_000, "b's own event")
  assert.deepEqual(liveB.events(), more)
  await live.waitFor((l) => l.events().length >= 3, 10_000, 'third event on a')
  assert.deepEqual(live.events(), [...pushed, ...more])
  await live.stop()
  await liveB.stop()
})

test('an interrupted live pull does not break the connection', async () => {
  const storeId = uniqueStoreId('live-stop')
  const a = await makeClient(server.url, storeId)
  const live = a.live()
  await live.waitFor((l) => l.pages.length >= 1, 5_000, 'first page')
  await live.stop()
  await a.push(makeEvents(1, 2))
  const live2 = a.live()
  await live2.waitFor((l) => l.events().length >= 2, 5_000, 'history')
  assert.deepEqual(live2.events().map((e) => e.seqNum), [1, 2])
  await live2.stop()
})

test(
  'live pulls opened during a stream of pushes see every event exactly once, in order',
  { timeout: 120_000, skip: skipOnReference('it can deliver an event both in the history and as a broadcast') },
  async () => {
    const storeId = uniqueStoreId('live-stream')
    const pusher = await makeClient(server.url, storeId, { clientId: 'pusher' })
    const readers = await Promise.all([1, 2, 3].map((i) => makeClient(server.url, storeId, { clientId: `reader-${i}` })))
    await Promise.all(readers.map((r) => r.pull())) // learn backendIds (cursor pulls need them)

    const TOTAL = 300
    const BATCH = 3
    const lives = []
    let head = 0
    while (head < TOTAL) {
      // every few batches, open new live pulls: from the start, and from the current head, on several sockets
      if ((head / BATCH) % 4 === 0) {
        const r = readers[(head / BATCH / 4) % readers.length]
        lives.push({ from: 0, live: r.live() })
        lives.push({ from: head, live: r.live(head) })
      }
      await pusher.push(makeEvents(head + 1, head + BATCH, { clientId: 'pusher', sessionId: 'p' }))
      head += BATCH
    }
    assert.ok(lives.length >= 40)
    for (const { from, live } of lives) {
      await live.waitFor((l) => l.seqNums().includes(TOTAL) || l.seqNums().length >= TOTAL - from, 20_000, `events up to ${TOTAL} (from ${from})`)
    }
    await new Promise((r) => setTimeout(r, 300)) // late duplicates would arrive now
    for (const { from, live } of lives) {
      const expected = Array.from({ length: TOTAL - from }, (_, i) => from + 1 + i)
      assert.deepEqual(live.seqNums(), expected, `live pull from ${from}: no gap, no duplicate, in order`)
    }
    await Promise.all(lives.map(({ live }) => live.stop()))
  },
)
