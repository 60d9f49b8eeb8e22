// A slow consumer holds back Acks; the server must keep answering Pings meanwhile (the client treats a
// socket that sends nothing for one 10 s ping interval as dead, and a heartbeat timeout does not fail the
// requests that were open on it: they would hang forever).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, liveSockets, makeClient, makeEvents, seqNumsOf, skipOnHttp, uniqueStoreId } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

test('a consumer that stalls 25 s mid-pull keeps the socket alive and gets every page', { timeout: 90_000, skip: skipOnHttp('Ack flow control and socket heartbeat; an HTTP pull is one response body') }, async () => {
  const storeId = uniqueStoreId('slow')
  const writer = await makeClient(server.url, storeId, { clientId: 'writer' })
  await writer.push(makeEvents(1, 2500), 60_000) // 25+ pages: more than the client's 16-page buffer

  const known = new Set(liveSockets())
  const c = await makeClient(server.url, storeId, { clientId: 'slow' })
  await c.connect()
  const mine = liveSockets().filter((s) => !known.has(s))
  assert.equal(mine.length, 1)
  let drops = 0
  const watch = setInterval(() => {
    if (!c.isConnected()) drops++
  }, 100)
  try {
    const pages = await c.pullSlow(
      undefined,
      (page, i) => (i === 0 ? new Promise((r) => setTimeout(r, 25_000)) : undefined),
      60_000,
    )
    assert.deepEqual(seqNumsOf(pages), Array.from({ length: 2500 }, (_, i) => i + 1), 'every event, in order')
    assert.deepEqual(pages.at(-1).pageInfo, { _tag: 'NoMore' })
  } finally {
    clearInterval(watch)
  }
  assert.equal(drops, 0, 'isConnected stayed true while the consumer stalled')
  assert.equal(mine[0].readyState, mine[0].OPEN, 'still the same socket (no heartbeat timeout, no reconnect)')
  assert.equal(liveSockets().filter((s) => !known.has(s)).length, 1, 'no second socket was opened')
})
