// push then pull: events, metadata.createdAt and backendId come back; pull with a cursor.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvents, Option, seqNumsOf, uniqueStoreId } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

test('push then pull returns the events with createdAt metadata and a backendId', async () => {
  const storeId = uniqueStoreId('pushpull')
  const a = await makeClient(server.url, storeId)
  const events = makeEvents(1, 3, { clientId: 'client-a', sessionId: 'session-a' })
  const before = Date.now()
  await a.push(events)
  const afterPush = Date.now()

  const pages = await a.pull()
  assert.deepEqual(seqNumsOf(pages), [1, 2, 3])
  assert.deepEqual(eventsOf(pages), events, 'events come back exactly as pushed')
  assert.deepEqual(pages.at(-1).pageInfo, { _tag: 'NoMore' })

  const items = pages.flatMap((p) => p.batch)
  for (const item of items) {
    assert.ok(Option.isSome(item.metadata), 'metadata is Some')
    const md = item.metadata.value
    assert.equal(md._tag, 'SyncMessage.SyncMetadata')
    assert.match(md.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO-8601 UTC with milliseconds')
    const t = Date.parse(md.createdAt)
    assert.ok(t >= before - 5_000 && t <= afterPush + 5_000, `createdAt ${md.createdAt} near the push time`)
  }
  assert.equal(new Set(items.map((i) => i.metadata.value.createdAt)).size, 1, 'one createdAt per push request')

  const backendId = await a.backendId()
  assert.equal(typeof backendId, 'string')
  assert.ok(backendId.length > 0)

  // a second client of the same store sees the same events and the same backendId
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  const pagesB = await b.pull()
  assert.deepEqual(eventsOf(pagesB), events)
  assert.equal(await b.backendId(), backendId)
  assert.deepEqual(
    pagesB.flatMap((p) => p.batch.map((i) => i.metadata.value.createdAt)),
    items.map((i) => i.metadata.value.createdAt),
    'createdAt is stored, not re-stamped on pull',
  )
})

test('pushes in several requests keep their own createdAt and extend the log', async () => {
  const a = await makeClient(server.url, uniqueStoreId('pushmany'))
  await a.push(makeEvents(1, 2))
  await new Promise((r) => setTimeout(r, 20))
  await a.push(makeEvents(3, 3))
  const pages = await a.pull()
  assert.deepEqual(seqNumsOf(pages), [1, 2, 3])
  const ts = pages.flatMap((p) => p.batch.map((i) => Date.parse(i.metadata.value.createdAt)))
  assert.ok(ts[0] === ts[1] && ts[2] >= ts[1], `createdAt ${ts}`)
})

test('empty push is a no-op', async () => {
  const a = await makeClient(server.url, uniqueStoreId('emptypush'))
  await a.push([])
  await a.push(makeEvents(1, 1))
  assert.deepEqual(seqNumsOf(await a.pull()), [1])
})

test('pull with a cursor returns only later events', async () => {
  const a = await makeClient(server.url, uniqueStoreId('cursor'))
  await a.push(makeEvents(1, 5))
  await a.pull() // learn the backendId: a cursor pull needs it
  assert.deepEqual(seqNumsOf(await a.pull(0)), [1, 2, 3, 4, 5], 'cursor 0')
  assert.deepEqual(seqNumsOf(await a.pull(2)), [3, 4, 5], 'cursor 2')
  assert.deepEqual(seqNumsOf(await a.pull(4)), [5], 'cursor 4')
  const atHead = await a.pull(5)
  assert.equal(atHead.length, 1, 'cursor at head: exactly one page')
  assert.deepEqual(atHead[0].batch, [])
  assert.deepEqual(atHead[0].pageInfo, { _tag: 'NoMore' })
})
