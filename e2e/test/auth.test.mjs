// --auth-token: the real client with a valid token in its payload syncs; with an invalid one the
// connection is refused with 400 and the reason before anything reaches the store.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'

import { closeAllClients, isHttp, makeClient, makeEvents, seqNumsOf, uniqueStoreId } from '../lib/clients.mjs'
import { isExternal, isReference, startServer } from '../lib/server.mjs'

const skip = isReference || isExternal ? 'needs a spawned livestore-sync server with --auth-token' : false

let server
before(async () => {
  if (!skip) server = await startServer({ args: ['--auth-token', 'good-token'] })
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

test('a client with a valid token in its payload syncs', { skip }, async () => {
  const storeId = uniqueStoreId('auth-ok')
  const a = await makeClient(server.url, storeId, { payload: { authToken: 'good-token' } })
  await a.push(makeEvents(1, 2))
  assert.deepEqual(seqNumsOf(await a.pull()), [1, 2])
})

test('a connection with an invalid token is refused with 400 and the reason', { skip }, async () => {
  const storeId = uniqueStoreId('auth-bad')
  const payload = encodeURIComponent(encodeURIComponent(JSON.stringify({ authToken: 'bad-token' })))
  const url = `${server.url}/?storeId=${storeId}&payload=${payload}&transport=${isHttp ? 'http' : 'ws'}`
  const { status, text } = isHttp
    ? await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"_tag":"Request","id":"1","tag":"SyncHttpRpc.Ping","payload":{"storeId":"x"},"headers":[]}',
      }).then(async (res) => ({ status: res.status, text: await res.text() }))
    : await new Promise((resolve, reject) => {
        const ws = new WebSocket(url.replace(/^http/, 'ws'))
        ws.once('open', () => reject(new Error('the upgrade was accepted')))
        ws.once('error', () => {})
        ws.once('unexpected-response', (_req, res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.on('end', () => resolve({ status: res.statusCode, text: body }))
        })
      })
  assert.equal(status, 400)
  assert.match(text, /missing or invalid auth token/)
  if (isHttp) {
    // The real HTTP client sees the refusal as a failed call, and nothing is stored.
    const b = await makeClient(server.url, storeId, { payload: { authToken: 'bad-token' } })
    const pushed = await b.pushResult(makeEvents(1, 1))
    assert.equal(pushed.ok, false)
  }
  const good = await makeClient(server.url, storeId, { payload: { authToken: 'good-token' } })
  assert.deepEqual(seqNumsOf(await good.pull()), [])
})
