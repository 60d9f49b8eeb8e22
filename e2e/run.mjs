// Runs the suite once per transport (WebSocket, then HTTP) with node's test runner, passing its
// output through, and ends with one combined line: "e2e: N passed, N failed, N skipped".
// When LIVESTORE_SYNC_TEST_POSTGRES names a PostgreSQL server, the suite then runs again with every
// server on a new database of that server (`serve --postgres`), dropped at the end; the multi-node
// tests run only then. Exits non-zero when any run fails.
import { spawn } from 'node:child_process'

import { createDatabase, dropDatabase } from './lib/postgres.mjs'

const transports = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['ws', 'http']
const totals = { pass: 0, fail: 0, skipped: 0 }
let failed = false

const runSuite = (transport, engine, env) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test'], {
      env: { ...process.env, ...env, E2E_TRANSPORT: transport },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.stdout.on('data', (buf) => {
      process.stdout.write(buf)
      for (const m of buf.toString().matchAll(/^# (pass|fail|skipped) (\d+)$/gm)) totals[m[1]] += Number(m[2])
    })
    child.on('exit', (c) => {
      console.log(`# e2e over ${transport} on ${engine}: exit ${c ?? 1}`)
      if ((c ?? 1) !== 0) failed = true
      resolve()
    })
  })

for (const transport of transports) await runSuite(transport, 'pebble', { E2E_POSTGRES_DB_URL: '' })

const server = process.env.LIVESTORE_SYNC_TEST_POSTGRES
if (server && !process.env.E2E_EXTERNAL_URL) {
  const db = await createDatabase(server)
  try {
    for (const transport of transports) await runSuite(transport, 'postgres', { E2E_POSTGRES_DB_URL: db.url })
  } finally {
    await dropDatabase(server, db.name)
  }
} else {
  console.log('# e2e on PostgreSQL skipped: set LIVESTORE_SYNC_TEST_POSTGRES to a server URL (e.g. postgres://postgres@127.0.0.1:5432/test)')
}
console.log(`e2e: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`)
process.exit(failed || totals.fail > 0 ? 1 : 0)
