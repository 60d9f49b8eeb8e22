// The client's payload travels in the URL, URL-encoded twice; the server's --auth-token checks it
// as it checks 0.4 clients' payloads.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import WS from 'ws'

import { skipIfExternal, startServer } from '../../lib/server.mjs'
import { closeAllClients03, events03, makeClient03, uniqueStoreId03 } from '../lib/client03.mjs'

const token = 'tök&en=?#/ %20+😀'
let server
before(async () => {
  if (!skipIfExternal) server = await startServer({ env: { LIVESTORE_SYNC_AUTH_TOKENS: token } })
})
after(async () => {
  await closeAllClients03()
  await server?.stop()
})

test('a payload with the right token, through the 0.3.1 client', { skip: skipIfExternal }, async () => {
  const store = uniqueStoreId03('payload')
  const payload = { authToken: token, nested: { a: [1, 'ü'] } }
  const a = await makeClient03(server.url, store, { payload })
  await a.push(events03(1, 1))
  const f = (await makeClient03(server.url, store, { payload })).follow()
  await f.waitFor((x) => x.caughtUp(), 10_000, 'the pull')
  assert.deepEqual(f.seqNums(), [1])
})

const upgrade = (url) =>
  new Promise((resolve) => {
    const ws = new WS(url)
    ws.on('open', () => {
      ws.terminate()
      resolve({ status: 101 })
    })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
  })

test('without the token, or with another, the upgrade is refused with 400 and the reason', { skip: skipIfExternal }, async () => {
  const base = `${server.url.replace(/^http/, 'ws')}/websocket?storeId=${uniqueStoreId03('refused')}`
  const twice = (p) => encodeURIComponent(encodeURIComponent(JSON.stringify(p)))
  assert.equal((await upgrade(base)).status, 400)
  assert.equal((await upgrade(`${base}&payload=${twice({ authToken: 'wrong' })}`)).status, 400)
  assert.equal((await upgrade(`${base}&payload=${twice({ authToken: token })}`)).status, 101)
})
