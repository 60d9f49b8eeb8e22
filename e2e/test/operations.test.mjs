// Operating the Go server with real clients: an admin reset leads a LiveStore client into
// BackendIdMismatchError and a fresh sync; a drain closes sockets with 1012 and the client
// reconnects after the restart with nothing lost. (livestore-sync only: the original has no admin
// API and never closes sockets itself.)
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'

import { closeAllClients, eventually, makeClient, makeEvents, seqNumsOf, skipOnHttp, uniqueStoreId } from '../lib/clients.mjs'
import { isExternal, isReference, startServer } from '../lib/server.mjs'

const secret = 'e2e-admin-secret'
const skip = isReference || isExternal ? 'needs a spawned livestore-sync server' : false

let server
before(async () => {
  if (!skip) server = await startServer({ args: ['--admin-secret', secret] })
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

/** Calls an AdminService RPC with the Connect protocol (JSON). */
const admin = async (method, body, token = secret) => {
  const res = await fetch(`${server.url}/livestore.sync.v1.AdminService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

test('admin calls are refused with a wrong secret', { skip }, async () => {
  const res = await admin('ListStores', {}, 'wrong')
  assert.equal(res.status, 401)
  assert.equal(res.body.code, 'unauthenticated')
})

test('ResetStore: the client gets BackendIdMismatchError, a fresh client syncs the new log', { skip }, async () => {
  const storeId = uniqueStoreId('reset')
  const a = await makeClient(server.url, storeId)
  await a.push(makeEvents(1, 3))
  assert.deepEqual(seqNumsOf(await a.pull()), [1, 2, 3])
  const oldBackendId = await a.backendId()
  const live = a.live(3)
  await eventually(() => live.pages.length >= 1, { what: 'first live page' })

  const reset = await admin('ResetStore', { storeId })
  assert.equal(reset.status, 200, JSON.stringify(reset.body))
  const newBackendId = reset.body.store.backendId
  assert.notEqual(newBackendId, oldBackendId)

  // The open live pull ends with the mismatch; so do a cursor pull and a push with the old id.
  const ended = await live.done
  assert.equal(ended.error?._tag, 'BackendIdMismatchError', JSON.stringify(ended))
  assert.equal(ended.error.expected, newBackendId)
  const pulled = await a.pullResult(3)
  assert.equal(pulled.error?._tag, 'BackendIdMismatchError')
  assert.equal(pulled.error.received, oldBackendId)
  const pushed = await a.pushResult(makeEvents(4, 4))
  assert.equal(pushed.error?._tag, 'BackendIdMismatchError')

  // A client that starts over sees an empty log with the new backend id and can sync again.
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  assert.deepEqual(seqNumsOf(await b.pull()), [])
  assert.equal(await b.backendId(), newBackendId)
  await b.push(makeEvents(1, 2, { clientId: 'client-b' }))
  assert.deepEqual(seqNumsOf(await b.pull()), [1, 2])
})

test(
  'drain: sockets get close 1012, the client reconnects after the restart, nothing is lost',
  { skip: skip || skipOnHttp('close code 1012 on open WebSockets (uses a raw socket)') },
  async () => {
  const storeId = uniqueStoreId('drain')
  const a = await makeClient(server.url, storeId)
  await a.push(makeEvents(1, 5))

  const raw = new WebSocket(`${server.url.replace('http', 'ws')}/?storeId=${storeId}&transport=ws`)
  await new Promise((resolve, reject) => raw.once('open', resolve).once('error', reject))
  const closed = new Promise((resolve) => raw.once('close', (code, reason) => resolve({ code, reason: String(reason) })))

  const result = await server.restart()
  assert.equal(result.code, 0, `server exited ${JSON.stringify(result)}\n${server.log()}`)
  const close = await closed
  assert.equal(close.code, 1012, `close frame ${JSON.stringify(close)}`)

  // The LiveStore client reconnects by itself; everything acknowledged is still there.
  await a.waitConnected()
  assert.deepEqual(seqNumsOf(await a.pull()), [1, 2, 3, 4, 5])
  await a.push(makeEvents(6, 6))
  assert.deepEqual(seqNumsOf(await a.pull(5)), [6])
  },
)
