// Paged pulls: at most 100 events per page, exact `remaining` counting down to NoMore; big events.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvents, seqNumsOf, uniqueStoreId } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

/** Checks the page structure of a pull that should return `total` events. */
const assertPaging = (pages, total, label) => {
  let sent = 0
  pages.forEach((page, i) => {
    assert.ok(page.batch.length <= 100, `${label}: page ${i} has ${page.batch.length} events (max 100)`)
    sent += page.batch.length
    const remaining = total - sent
    const isLast = i === pages.length - 1
    if (isLast) {
      assert.deepEqual(page.pageInfo, { _tag: 'NoMore' }, `${label}: last page is NoMore`)
      assert.equal(remaining, 0, `${label}: all events sent by the last page`)
    } else {
      assert.ok(page.batch.length > 0, `${label}: page ${i} before the last is not empty`)
      assert.deepEqual(page.pageInfo, { _tag: 'MoreKnown', remaining }, `${label}: page ${i} remaining`)
    }
  })
}

test('2,500 events are paged with exact remaining counts', { timeout: 120_000 }, async () => {
  const storeId = uniqueStoreId('paging')
  const a = await makeClient(server.url, storeId)
  const events = makeEvents(1, 2500, { args: (s) => ({ id: `todo-${s}`, text: `Todo number ${s}`, n: s }) })
  await a.push(events, 90_000) // the client splits it into requests of <= 100 events

  const pages = await a.pull(undefined, 60_000)
  assert.ok(pages.length >= 25, `${pages.length} pages`)
  assertPaging(pages, 2500, 'from start')
  assert.deepEqual(eventsOf(pages), events)

  const fromCursor = await a.pull(1234, 60_000)
  assertPaging(fromCursor, 2500 - 1234, 'from cursor 1234')
  assert.deepEqual(seqNumsOf(fromCursor), events.slice(1234).map((e) => e.seqNum))

  const tail = await a.pull(2450)
  assertPaging(tail, 50, 'from cursor 2450')
  assert.equal(tail.length, 1)

  // a live pull pages its history the same way, then stays open
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  const live = b.live()
  await live.waitFor((l) => l.events().length >= 2500, 60_000, '2500 events on the live pull')
  // the history ends with the first NoMore page (over http the polling then adds one more page per poll)
  const history = live.pages.slice(0, live.pages.findIndex((p) => p.pageInfo._tag === 'NoMore') + 1)
  assertPaging(history, 2500, 'live history')
  assert.deepEqual(live.seqNums(), events.map((e) => e.seqNum), 'nothing after the history')
  await live.stop()
})

test('20 events with ~100 KB args each round-trip intact', { timeout: 60_000 }, async () => {
  const a = await makeClient(server.url, uniqueStoreId('bigargs'))
  const blob = (s) => {
    // ~100 KB of varied text (not just one repeated char), some multi-byte
    let out = ''
    for (let i = 0; out.length < 100_000; i++) out += `${s}:${i}:${(i * 7919) % 100003}|äø€😀|`
    return out.slice(0, 100_000)
  }
  const events = makeEvents(1, 20, { args: (s) => ({ id: `big-${s}`, text: blob(s), list: [s, blob(s).slice(0, 1000)] }) })
  await a.push(events)
  const pages = await a.pull()
  assertPaging(pages, 20, 'big events')
  const got = eventsOf(pages)
  assert.equal(got.length, 20)
  for (let i = 0; i < 20; i++) {
    assert.equal(JSON.stringify(got[i]), JSON.stringify(events[i]), `event ${i + 1} identical`)
  }
  // and on a live pull (broadcast) too
  const b = await makeClient(server.url, a.storeId, { clientId: 'client-b' })
  await b.pull()
  const live = b.live(20)
  await live.waitFor((l) => l.pages.length >= 1, 5_000, 'history page')
  const more = makeEvents(21, 25, { args: (s) => ({ id: `big-${s}`, text: blob(s) }) })
  await a.push(more)
  await live.waitFor((l) => l.events().length >= 5, 15_000, 'broadcast big events')
  assert.equal(JSON.stringify(live.events()), JSON.stringify(more))
  await live.stop()
})
