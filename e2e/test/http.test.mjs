// HTTP transport specifics (runs with E2E_TRANSPORT=http only): one store used over WebSocket and HTTP at
// once; gzip on and off (raw requests); CORS preflight and a cross-origin POST.
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, test } from 'node:test'
import zlib from 'node:zlib'

import { closeAllClients, makeClient, makeEvents, seqNumsOf, skipUnlessHttp, uniqueStoreId } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'

const skip = skipUnlessHttp('tests of the HTTP transport itself')

let server
before(async () => {
  if (!skip) server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

const syncUrl = (storeId) => `${server.url}/?storeId=${encodeURIComponent(storeId)}&transport=http`

/** One raw HTTP request (node:http: no implicit Accept-Encoding, no transparent decompression). */
const rawRequest = (url, { method = 'POST', headers = {}, body } = {}) =>
  new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(20_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)))
    req.end(body)
  })

/** The body of a SyncHttpRpc request as the client sends it. */
const rpcBody = (tag, payload, id = '1') =>
  JSON.stringify({
    _tag: 'Request',
    id,
    tag: `SyncHttpRpc.${tag}`,
    payload,
    traceId: '0123456789abcdef0123456789abcdef',
    spanId: '0123456789abcdef',
    sampled: true,
    headers: [],
  })

const describe = (r) => `${r.status} ${JSON.stringify(r.headers)} ${r.body.toString('utf8', 0, 300)}`

test('one store over WebSocket and HTTP at once: each live pull sees the other transport\'s pushes', { skip }, async () => {
  const storeId = uniqueStoreId('mixed')
  const w = await makeClient(server.url, storeId, { transport: 'ws', clientId: 'ws-client' })
  const h = await makeClient(server.url, storeId, { transport: 'http', clientId: 'http-client' })
  assert.equal(w.transport, 'ws')
  assert.equal(h.transport, 'http')
  await w.push(makeEvents(1, 2, { clientId: 'ws-client' }))
  await Promise.all([w.pull(), h.pull()])
  assert.equal(await w.backendId(), await h.backendId(), 'same backendId over both transports')

  const liveW = w.live(2)
  const liveH = h.live(2)
  await Promise.all([liveW, liveH].map((l) => l.waitFor((x) => x.pages.length >= 1, 5_000, 'history page')))

  const fromHttp = makeEvents(3, 4, { clientId: 'http-client', sessionId: 'sh' })
  await h.push(fromHttp)
  await liveW.waitFor((l) => l.events().length >= 2, 10_000, 'HTTP push on the WS live pull')
  assert.deepEqual(liveW.events(), fromHttp)

  const fromWs = makeEvents(5, 6, { clientId: 'ws-client', sessionId: 'sw' })
  await w.push(fromWs)
  await liveH.waitFor((l) => l.events().length >= 4, 10_000, 'WS push on the HTTP live pull')
  await new Promise((r) => setTimeout(r, 500)) // a few more polls: nothing twice
  assert.deepEqual(liveH.events(), [...fromHttp, ...fromWs])
  assert.deepEqual(liveW.events(), [...fromHttp, ...fromWs])
  await liveW.stop()
  await liveH.stop()
  assert.deepEqual(seqNumsOf(await w.pull()), [1, 2, 3, 4, 5, 6])
})

test('gzip: Accept-Encoding gzip gives Content-Encoding gzip, without it a plain body with Content-Length', { skip }, async () => {
  const storeId = uniqueStoreId('gzip')
  const a = await makeClient(server.url, storeId)
  await a.push(makeEvents(1, 250))
  const body = rpcBody('Pull', { storeId, cursor: { _tag: 'None' } })
  const headers = { 'content-type': 'application/json' }

  const gz = await rawRequest(syncUrl(storeId), { body, headers: { ...headers, 'accept-encoding': 'gzip' } })
  assert.equal(gz.status, 200, describe(gz))
  assert.equal(gz.headers['content-encoding'], 'gzip', describe(gz))
  assert.match(gz.headers['content-type'] ?? '', /^application\/json/)
  const unzipped = zlib.gunzipSync(gz.body)

  const plain = await rawRequest(syncUrl(storeId), { body, headers })
  assert.equal(plain.status, 200, describe(plain))
  assert.equal(plain.headers['content-encoding'], undefined, describe(plain))
  assert.equal(plain.headers['content-length'], String(plain.body.length), 'Content-Length = body size')
  assert.match(plain.headers['content-type'] ?? '', /^application\/json/)
  assert.ok(gz.body.length < plain.body.length / 2, `gzip shrinks the body (${gz.body.length} vs ${plain.body.length} bytes)`)

  const decoded = JSON.parse(unzipped.toString('utf8'))
  assert.deepEqual(decoded, JSON.parse(plain.body.toString('utf8')), 'identical JSON')
  // [Chunk (100), Chunk (100), Chunk (50), Exit]
  assert.ok(Array.isArray(decoded))
  assert.equal(decoded.at(-1)._tag, 'Exit')
  assert.deepEqual(decoded.at(-1).exit, { _tag: 'Success' })
  const seqNums = decoded
    .filter((m) => m._tag === 'Chunk')
    .flatMap((m) => m.values.flatMap((v) => v.batch.map((i) => i.eventEncoded.seqNum)))
  assert.deepEqual(seqNums, Array.from({ length: 250 }, (_, i) => i + 1))
})

test('CORS: preflight is answered 204 with Allow-Origin/Methods/Headers', { skip }, async () => {
  const storeId = uniqueStoreId('cors-preflight')
  const requested = 'b3,content-type,traceparent,x-livestore-store-id'
  const res = await rawRequest(syncUrl(storeId), {
    method: 'OPTIONS',
    headers: {
      origin: 'http://app.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': requested,
    },
  })
  assert.equal(res.status, 204, describe(res))
  const allowOrigin = res.headers['access-control-allow-origin']
  assert.ok(allowOrigin === '*' || allowOrigin === 'http://app.example.com', `Allow-Origin: ${allowOrigin}`)
  const methods = (res.headers['access-control-allow-methods'] ?? '').split(',').map((m) => m.trim().toUpperCase())
  assert.ok(methods.includes('POST'), `Allow-Methods: ${res.headers['access-control-allow-methods']}`)
  const allowHeaders = (res.headers['access-control-allow-headers'] ?? '').toLowerCase()
  assert.ok(
    allowHeaders.trim() === '*' || requested.split(',').every((h) => allowHeaders.includes(h)),
    `Allow-Headers: ${res.headers['access-control-allow-headers']}`,
  )
  assert.equal(res.body.length, 0, 'empty body')
})

test('CORS: a cross-origin POST (sync request) carries Access-Control-Allow-Origin', { skip }, async () => {
  const storeId = uniqueStoreId('cors-post')
  const res = await rawRequest(syncUrl(storeId), {
    body: rpcBody('Pull', { storeId, cursor: { _tag: 'None' } }),
    headers: { 'content-type': 'application/json', origin: 'http://app.example.com' },
  })
  assert.equal(res.status, 200, describe(res))
  const allowOrigin = res.headers['access-control-allow-origin']
  assert.ok(allowOrigin === '*' || allowOrigin === 'http://app.example.com', `Allow-Origin: ${allowOrigin} (${describe(res)})`)
  const msgs = JSON.parse(res.body.toString('utf8'))
  assert.equal(msgs[0]._tag, 'Chunk', describe(res))
  assert.deepEqual(msgs[0].values[0].batch, [])
  assert.deepEqual(msgs.at(-1).exit, { _tag: 'Success' })
  // a Ping from a browser page too
  const ping = await rawRequest(syncUrl(storeId), {
    body: rpcBody('Ping', { storeId }, '2'),
    headers: { 'content-type': 'application/json', origin: 'http://app.example.com' },
  })
  assert.equal(ping.status, 200, describe(ping))
  assert.ok(ping.headers['access-control-allow-origin'], `Allow-Origin on the Ping response (${describe(ping)})`)
})
