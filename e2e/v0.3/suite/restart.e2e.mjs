// Restart of the server and dropped sockets: 0.3.1's client reconnects by itself (it sends no new
// PullReq then: the socket receives the broadcasts of pushes made once it is back).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { skipIfExternal, startServer } from '../../lib/server.mjs'
import { closeAllClients03, events03, isRange, liveSockets03, makeClient03, nextOpenSocket03, uniqueStoreId03 } from '../lib/client03.mjs'

let server
before(async () => {
  if (!skipIfExternal) server = await startServer()
})
after(async () => {
  await closeAllClients03()
  await server?.stop()
})

test('restart: the log survives, clients reconnect and keep syncing', { timeout: 60_000, skip: skipIfExternal }, async () => {
  const store = uniqueStoreId03('restart')
  const writer = await makeClient03(server.url, store, { clientId: 'writer' })
  const reader = await makeClient03(server.url, store, { clientId: 'reader' })
  const fr = reader.follow()
  await writer.push(events03(1, 3, { clientId: 'writer', args: (s) => ({ text: `dürable 😀 ${s}` }) }))
  await fr.waitFor((x) => x.seqNums().length === 3, 10_000, 'e1..e3')

  const stopped = await server.restart()
  assert.equal(stopped.killed, false, 'the server drained on SIGTERM')

  await writer.waitConnected()
  await reader.waitConnected()
  await writer.push(events03(4, 4, { clientId: 'writer' }))
  await fr.waitFor((x) => x.seqNums().length === 4, 15_000, 'e4 after the restart')
  assert.ok(isRange(fr.seqNums(), 1, 4), 'each event once, in order')

  const fresh = (await makeClient03(server.url, store)).follow()
  await fresh.waitFor((x) => x.caughtUp(), 10_000, 'the pull after the restart')
  assert.ok(isRange(fresh.seqNums(), 1, 4))
  assert.equal(fresh.events()[0].args.text, 'dürable 😀 1')
})

test('a dropped socket: the client reconnects and receives later pushes', { timeout: 30_000 }, async () => {
  const store = uniqueStoreId03('reconnect')
  const writer = await makeClient03(server.url, store, { clientId: 'writer' })
  // The writer's socket must be open now, or it could be the "next" socket awaited below: the
  // writer's push could then land before the reader's new socket is open, and the 0.3.1 client
  // does not pull again after reconnecting (it follows broadcasts only).
  await writer.waitConnected()
  const before = new Set(liveSockets03())
  const reader = await makeClient03(server.url, store, { clientId: 'reader' })
  const fr = reader.follow()
  await fr.waitFor((x) => x.caughtUp(), 10_000, 'caught up')
  const readerSockets = liveSockets03().filter((s) => !before.has(s))
  assert.equal(readerSockets.length, 1)
  const reopened = nextOpenSocket03()
  readerSockets[0].terminate()
  await reopened
  await writer.push(events03(1, 2, { clientId: 'writer' }))
  await fr.waitFor((x) => x.seqNums().length === 2, 10_000, 'e1, e2 on the new socket')
  assert.deepEqual(fr.seqNums(), [1, 2])
})
