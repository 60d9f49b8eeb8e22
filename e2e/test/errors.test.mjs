// ServerAheadError (fields; racing pushes), BackendIdMismatchError on pull and push.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvent, makeEvents, seqNumsOf, uniqueStoreId } from '../lib/clients.mjs'
import { isReference, startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

const assertServerAhead = (res, minimumExpectedNum, providedNum, msg) => {
  assert.equal(res.ok, false, `${msg}: push must fail`)
  assert.equal(res.error._tag, 'ServerAheadError', `${msg}: ${res.error}`)
  assert.equal(res.error.minimumExpectedNum, minimumExpectedNum, `${msg}: minimumExpectedNum`)
  assert.equal(res.error.providedNum, providedNum, `${msg}: providedNum`)
}

test('ServerAheadError carries minimumExpectedNum and providedNum', async () => {
  const a = await makeClient(server.url, uniqueStoreId('ahead'))
  await a.push(makeEvents(1, 3))
  assertServerAhead(await a.pushResult([makeEvent(10, 9)]), 3, 9, 'parent beyond head')
  // Re-pushing seqNum 1 with other content is a conflict everywhere.
  assertServerAhead(await a.pushResult(makeEvents(1, 1, { clientId: 'someone-else' })), 3, 0, 'conflicting re-push of seqNum 1')
  if (isReference) {
    assertServerAhead(await a.pushResult(makeEvents(1, 1)), 3, 0, 're-push of seqNum 1')
  } else {
    // livestore-sync acknowledges a push that repeats stored events identically (a client retrying
    // after a lost acknowledgement) and stores nothing twice.
    const retry = await a.pushResult(makeEvents(1, 1))
    assert.equal(retry.ok, true, `identical re-push is acknowledged: ${retry.error?._tag}`)
  }
  assertServerAhead(await a.pushResult([makeEvent(3, 2, { clientId: 'someone-else' })]), 3, 2, 'parent behind head')
  // nothing was stored by the failed pushes; the right parent still works
  await a.push(makeEvents(4, 4))
  assert.deepEqual(seqNumsOf(await a.pull()), [1, 2, 3, 4])
})

test('ServerAheadError on a fresh store when the first parent is not 0', async () => {
  const a = await makeClient(server.url, uniqueStoreId('ahead0'))
  assertServerAhead(await a.pushResult([makeEvent(2, 1)]), 0, 1, 'empty store')
})

test('racing pushes with the same parent: exactly one wins, the loser gets ServerAheadError', async () => {
  const storeId = uniqueStoreId('race')
  const a = await makeClient(server.url, storeId, { clientId: 'client-a' })
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  await Promise.all([a.connect(), b.connect()])
  let head = 0
  const winners = []
  for (let round = 0; round < 10; round++) {
    const evA = makeEvents(head + 1, head + 2, { clientId: 'client-a', sessionId: 'sa', args: (s) => ({ by: 'a', s }) })
    const evB = makeEvents(head + 1, head + 1, { clientId: 'client-b', sessionId: 'sb', args: (s) => ({ by: 'b', s }) })
    const [ra, rb] = await Promise.all([a.pushResult(evA), b.pushResult(evB)])
    assert.equal([ra, rb].filter((r) => r.ok).length, 1, `round ${round}: exactly one push wins (${JSON.stringify([ra, rb].map((r) => r.error?._tag ?? 'ok'))})`)
    const [winner, loser, winnerEvents] = ra.ok ? ['a', rb, evA] : ['b', ra, evB]
    winners.push(winner)
    const newHead = winnerEvents.at(-1).seqNum
    assertServerAhead(loser, newHead, head, `round ${round} loser`)
    const pulled = eventsOf(await a.pull())
    assert.deepEqual(pulled.slice(head), winnerEvents, `round ${round}: only the winner's events are stored`)
    head = newHead
  }
  assert.equal(seqNumsOf(await b.pull()).length, head)
})

test('BackendIdMismatchError on pull with a stale backendId', async () => {
  const storeId = uniqueStoreId('mismatch-pull')
  const a = await makeClient(server.url, storeId)
  await a.push(makeEvents(1, 2))
  await a.pull()
  const realId = await a.backendId()

  // a client that synced with some other backend before (its KeyValueStore holds another backendId)
  const stale = await makeClient(server.url, storeId, { backendId: 'stale-backend-id' })
  const res = await stale.pullResult(1)
  assert.equal(res.ok, false, 'pull must fail')
  assert.equal(res.error._tag, 'BackendIdMismatchError', String(res.error))
  assert.equal(res.error.expected, realId)
  assert.equal(res.error.received, 'stale-backend-id')
  assert.equal(await stale.backendId(), 'stale-backend-id', 'no page was delivered')

  // a pull without a cursor carries no backendId: it succeeds and the client learns the real one
  assert.deepEqual(seqNumsOf(await stale.pull()), [1, 2])
  assert.equal(await stale.backendId(), realId)
  assert.deepEqual(seqNumsOf(await stale.pull(1)), [2])
})

test('BackendIdMismatchError on push with a stale backendId; nothing is stored', async () => {
  const storeId = uniqueStoreId('mismatch-push')
  const a = await makeClient(server.url, storeId)
  await a.push(makeEvents(1, 2))
  await a.pull()
  const realId = await a.backendId()

  const stale = await makeClient(server.url, storeId, { backendId: 'stale-backend-id' })
  // the backendId check comes first: the parent (2) would be right
  const res = await stale.pushResult(makeEvents(3, 3))
  assert.equal(res.ok, false, 'push must fail')
  assert.equal(res.error._tag, 'BackendIdMismatchError', String(res.error))
  assert.equal(res.error.expected, realId)
  assert.equal(res.error.received, 'stale-backend-id')
  assert.deepEqual(seqNumsOf(await a.pull()), [1, 2])

  // also on an empty store (the store's backendId exists before its first event)
  const empty = await makeClient(server.url, uniqueStoreId('mismatch-push-empty'), { backendId: 'stale-backend-id' })
  const res2 = await empty.pushResult(makeEvents(1, 1))
  assert.equal(res2.ok, false)
  assert.equal(res2.error._tag, 'BackendIdMismatchError', String(res2.error))
  assert.equal(res2.error.received, 'stale-backend-id')
})
