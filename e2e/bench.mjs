// Throughput and latency of a sync server under LiveStore's real client (makeWsSync, or
// makeHttpSync with E2E_TRANSPORT=http), so that livestore-sync and the original @livestore/sync-cf
// server can be measured with the same client and the same workload:
//
//   push     BENCH_CLIENTS clients, each on its own store, push BENCH_BATCHES batches of
//            BENCH_BATCH_SIZE events one after another, as a LiveStore client does (each push waits
//            for its acknowledgement): events/s over all clients, and push latency percentiles.
//   fan-out  one client pushes BENCH_BATCHES batches to a store that BENCH_LIVE live pulls follow:
//            time from starting a push until every live pull has its events (percentiles).
//
//   LIVESTORE_SYNC_BIN=../bin/livestore-sync node bench.mjs       spawn livestore-sync
//   E2E_EXTERNAL_URL=http://127.0.0.1:8787 node bench.mjs         a running server (e.g. the original)
//
// It prints one line per scenario, and the same as JSON with BENCH_JSON=1. The client's own CPU
// (Effect, JSON) counts in the numbers: compare servers with the same client on the same machine.
import { closeAllClients, makeClient, makeEvents, transport } from './lib/clients.mjs'
import { startServer } from './lib/server.mjs'

const num = (name, def) => {
  const v = Number(process.env[name] ?? def)
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive whole number`)
  return v
}
const clients = num('BENCH_CLIENTS', 10)
const batches = num('BENCH_BATCHES', 50)
const batchSize = num('BENCH_BATCH_SIZE', 50)
const liveCount = num('BENCH_LIVE', 20)
const run = `${Date.now().toString(36)}`

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const summary = (ms) => {
  const s = [...ms].sort((a, b) => a - b)
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] }
}
const fmt = ({ p50, p90, p99, max }) => `p50 ${p50.toFixed(1)} ms, p90 ${p90.toFixed(1)}, p99 ${p99.toFixed(1)}, max ${max.toFixed(1)}`
const report = (name, line, data) => {
  console.log(`${name} (${transport}): ${line}`)
  if (process.env.BENCH_JSON === '1') console.log(JSON.stringify({ scenario: name, transport, ...data }))
}

const server = await startServer()
try {
  // push: independent stores, concurrent clients.
  const pushers = await Promise.all(
    Array.from({ length: clients }, (_, i) => makeClient(server.url, `bench-${run}-push-${i}`, { clientId: `bench-${i}` })),
  )
  const latencies = []
  const t0 = performance.now()
  await Promise.all(
    pushers.map(async (c) => {
      for (let b = 0; b < batches; b++) {
        const start = performance.now()
        await c.push(makeEvents(b * batchSize + 1, (b + 1) * batchSize), 60_000)
        latencies.push(performance.now() - start)
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  const events = clients * batches * batchSize
  const push = summary(latencies)
  report('push', `${clients} clients × ${batches} pushes × ${batchSize} events: ${Math.round(events / seconds)} events/s; push ${fmt(push)}`, {
    clients, batches, batchSize, eventsPerSecond: events / seconds, latencyMs: push,
  })
  for (const c of pushers) await c.close()

  // fan-out: one pusher, liveCount live pulls on the same store.
  const store = `bench-${run}-fanout`
  const pusher = await makeClient(server.url, store, { clientId: 'bench-pusher' })
  const followers = await Promise.all(Array.from({ length: liveCount }, (_, i) => makeClient(server.url, store, { clientId: `bench-follower-${i}` })))
  const lives = followers.map((f) => f.live())
  await Promise.all(lives.map((l) => l.waitFor((x) => x.pages.length > 0, 30_000, 'the first live page')))
  const delivery = []
  for (let b = 0; b < batches; b++) {
    const want = (b + 1) * batchSize
    const start = performance.now()
    await pusher.push(makeEvents(b * batchSize + 1, want), 60_000)
    await Promise.all(lives.map((l) => l.waitFor((x) => x.events().length >= want, 60_000, `${want} events`)))
    delivery.push(performance.now() - start)
  }
  const fan = summary(delivery)
  report('fan-out', `${batches} pushes × ${batchSize} events to ${liveCount} live pulls: push until all have it ${fmt(fan)}`, {
    batches, batchSize, live: liveCount, deliveryMs: fan,
  })
} finally {
  await closeAllClients()
  await server.stop()
}
