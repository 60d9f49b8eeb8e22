// Restart of the server process: data and backendId survive, the client reconnects by itself.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, isHttp, makeClient, makeEvents, seqNumsOf, uniqueStoreId } from '../lib/clients.mjs'
import { skipIfExternal, startServer } from '../lib/server.mjs'

let server
before(async () => {
  if (!skipIfExternal) server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

test('restart on the same port and data dir: client reconnects, data and backendId are kept', { timeout: 90_000, skip: skipIfExternal }, async (t) => {
  const storeId = uniqueStoreId('restart')
  const a = await makeClient(server.url, storeId)
  const events = makeEvents(1, 3)
  await a.push(events)
  const pagesBefore = await a.pull()
  const backendIdBefore = await a.backendId()
  const createdAtBefore = pagesBefore.flatMap((p) => p.batch.map((i) => i.metadata.value.createdAt))
  const live = a.live(3)
  await live.waitFor((l) => l.pages.length >= 1, 5_000, 'history page')

  const stopped = await server.restart()
  assert.equal(stopped.killed, false, `server exited on SIGTERM with a client connected (took ${stopped.ms} ms)`)

  if (!isHttp) {
    // the open live pull fails with IsOfflineError when the socket goes away ...
    const ended = await Promise.race([live.done, new Promise((r) => setTimeout(() => r('still open'), 15_000))])
    assert.notEqual(ended, 'still open', 'live pull ended when the server went away')
    assert.equal(ended.error?._tag, 'IsOfflineError', `live pull ended with ${JSON.stringify(ended.error ?? ended)}`)
  } else {
    // http: the live pull is a poll loop. A poll that hits the stopped server fails the stream with
    // UnknownError (the HTTP client has no IsOfflineError); if every poll landed on a running server the
    // loop simply goes on. Either way no event may be invented.
    const ended = await Promise.race([live.done, new Promise((r) => setTimeout(() => r('still open'), 1_000))])
    t.diagnostic(`http live pull across the restart: ${JSON.stringify(ended === 'still open' ? ended : ended.error?._tag)}`)
    if (ended !== 'still open') {
      assert.equal(ended.error?._tag, 'UnknownError', `live pull ended with ${JSON.stringify(ended.error ?? ended)}`)
    }
    assert.deepEqual(live.seqNums(), [], 'no event on the live pull')
    await live.stop()
  }

  // ... and the client reconnects on its own (ws: retry after ~1 s, then backing off; http: next request)
  await a.waitConnected(40_000)

  const pagesAfter = await a.pull()
  assert.deepEqual(eventsOf(pagesAfter), events, 'events survive the restart')
  assert.deepEqual(
    pagesAfter.flatMap((p) => p.batch.map((i) => i.metadata.value.createdAt)),
    createdAtBefore,
    'createdAt survives the restart',
  )
  assert.equal(await a.backendId(), backendIdBefore, 'backendId survives the restart')
  assert.deepEqual(seqNumsOf(await a.pull(2)), [3], 'cursor pull with the old backendId works')

  // the head survived: the next push must have parent 3
  const wrong = await a.pushResult(makeEvents(1, 1, { clientId: 'someone-else' }))
  assert.equal(wrong.error?._tag, 'ServerAheadError')
  assert.equal(wrong.error.minimumExpectedNum, 3)

  // live pulls and pushes work on the reconnected socket
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  const live2 = a.live(3)
  await live2.waitFor((l) => l.pages.length >= 1, 5_000, 'history page after restart')
  await b.push(makeEvents(4, 4, { clientId: 'client-b' }))
  await live2.waitFor((l) => l.events().length >= 1, 10_000, 'event pushed after restart')
  assert.deepEqual(live2.seqNums(), [4])
  await a.push(makeEvents(5, 5))
  assert.deepEqual(seqNumsOf(await b.pull()), [1, 2, 3, 4, 5])
  await live2.stop()
})
