// connect / ping / isConnected / pull on an empty store.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, isHttp, liveSockets, makeClient, skipOnHttp, uniqueStoreId } from '../lib/clients.mjs'
import { skipOnReference, startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

test('GET / answers 200', async () => {
  const res = await fetch(`${server.url}/`)
  await res.arrayBuffer()
  assert.equal(res.status, 200)
})

test('connect sets isConnected; ping succeeds', { timeout: 40_000 }, async () => {
  const c = await makeClient(server.url, uniqueStoreId('connect'))
  await c.connect()
  assert.equal(c.isConnected(), true, 'isConnected after connect')
  // ws: connect returned right at a Pong; the next one is due 10 s (+ round trip) later. A ping started at
  // that very moment races its own 10 s timeout, so start it a moment later. (http: ping = one Ping request.)
  if (!isHttp) await new Promise((r) => setTimeout(r, 1_000))
  // ping waits for the next Pong of the client's own 10 s ping schedule: it must arrive within the 10 s window
  const t0 = Date.now()
  await c.ping(15_000)
  assert.equal(c.isConnected(), true, `isConnected after ping (took ${Date.now() - t0} ms)`)
})

test('pull on an empty store: one empty NoMore page', async () => {
  const c = await makeClient(server.url, uniqueStoreId('empty'))
  const pages = await c.pull()
  assert.equal(pages.length, 1)
  assert.deepEqual(pages[0].batch, [])
  assert.deepEqual(pages[0].pageInfo, { _tag: 'NoMore' })
  const backendId = await c.backendId()
  assert.equal(typeof backendId, 'string', 'the first page carries the backendId')
  assert.ok(backendId.length > 0)
})

test(
  'socket stays alive over two ping intervals without traffic',
  { timeout: 40_000, skip: skipOnHttp('WebSocket heartbeat of an idle socket; HTTP has no socket to keep alive') },
  async () => {
  // The client treats a socket as dead when no frame at all arrives between two ping ticks (10 s apart).
  const c = await makeClient(server.url, uniqueStoreId('idle'))
  await c.connect()
  const live = c.live()
  await live.waitFor((l) => l.pages.length >= 1, 10_000, 'first live page')
  let drops = 0
  const unsub = setInterval(() => {
    if (!c.isConnected()) drops++
  }, 100)
  await new Promise((r) => setTimeout(r, 21_000))
  clearInterval(unsub)
  assert.equal(drops, 0, 'isConnected never went false')
  // the live pull is still open (no IsOfflineError)
  assert.equal(await Promise.race([live.done.then(() => 'ended'), Promise.resolve('open')]), 'open')
  },
)

test(
  'closing a client completes the WebSocket close handshake promptly',
  {
    timeout: 20_000,
    skip:
      skipOnHttp('WebSocket close handshake') ||
      skipOnReference('it never answers the close frame; the TCP connection drops ~10 s later'),
  },
  async () => {
    const before = new Set(liveSockets())
    const c = await makeClient(server.url, uniqueStoreId('close'))
    await c.connect()
    const mine = liveSockets().filter((s) => !before.has(s))
    assert.equal(mine.length, 1, 'one socket per client')
    const closed = new Promise((resolve) => mine[0].once('close', (code) => resolve(code)))
    const t0 = Date.now()
    await c.close()
    const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('timeout'), 3_000))])
    assert.notEqual(code, 'timeout', 'socket closed within 3 s of the client closing it')
    assert.equal(code, 1000, `close code (after ${Date.now() - t0} ms)`)
  },
)
