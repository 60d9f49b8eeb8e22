// OpenTelemetry: with OTEL_TRACES_EXPORTER=console the server prints one JSON object per span on
// its standard output. The real client's pushes and pulls must give server spans that continue
// the client's own trace (Effect RPC traceId/spanId over WebSocket; traceparent/b3 over HTTP).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventually, isHttp, makeClient, makeEvents, seqNumsOf, uniqueStoreId } from '../lib/clients.mjs'
import { isExternal, isReference, startServer } from '../lib/server.mjs'

const skip = isReference || isExternal ? 'needs a spawned livestore-sync server with OTEL_* set' : false

let server
before(async () => {
  if (!skip) {
    server = await startServer({ env: { OTEL_TRACES_EXPORTER: 'console', OTEL_BSP_SCHEDULE_DELAY: '20' } })
  }
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

/** The spans printed so far (stdouttrace writes one JSON object per line). */
const exportedSpans = () =>
  server
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))

const attr = (span, key) => span.Attributes?.find((a) => a.Key === key)?.Value?.Value

test("the client's pushes and pulls continue its traces", { skip }, async () => {
  const storeId = uniqueStoreId('tracing')
  const client = await makeClient(server.url, storeId)
  await client.push(makeEvents(1, 2))
  assert.deepEqual(seqNumsOf(await client.pull()), [1, 2])

  const rpc = isHttp ? 'SyncHttpRpc' : 'SyncWsRpc'
  const spans = await eventually(
    () => {
      const mine = exportedSpans().filter((s) => attr(s, 'livestore.store_id') === storeId)
      const push = mine.find((s) => s.Name === `${rpc}.Push`)
      const pull = mine.find((s) => s.Name === `${rpc}.Pull`)
      return push && pull ? { push, pull } : undefined
    },
    { what: `${rpc}.Push and ${rpc}.Pull spans for ${storeId}` },
  )
  for (const span of [spans.push, spans.pull]) {
    assert.equal(span.Parent.Remote, true, `${span.Name}: parent is the client's span`)
    assert.match(span.Parent.SpanID, /^[0-9a-f]{16}$/)
    assert.notEqual(span.Parent.SpanID, '0000000000000000')
    assert.equal(span.Parent.TraceID, span.SpanContext.TraceID, `${span.Name}: in the client's trace`)
    assert.equal(attr(span, 'livestore.transport'), isHttp ? 'http' : 'ws')
  }
  assert.equal(attr(spans.push, 'livestore.push.batch_size'), 2)
  assert.equal(attr(spans.push, 'livestore.outcome'), 'ok')
})
