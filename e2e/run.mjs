// Runs the suite once per transport (WebSocket, then HTTP) with node's test runner, passing its
// output through, and ends with one combined line: "e2e: N passed, N failed, N skipped".
// Exits non-zero when either run fails.
import { spawn } from 'node:child_process'

const transports = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['ws', 'http']
const totals = { pass: 0, fail: 0, skipped: 0 }
let failed = false

for (const transport of transports) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test'], {
      env: { ...process.env, E2E_TRANSPORT: transport },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.stdout.on('data', (buf) => {
      process.stdout.write(buf)
      for (const m of buf.toString().matchAll(/^# (pass|fail|skipped) (\d+)$/gm)) totals[m[1]] += Number(m[2])
    })
    child.on('exit', (c) => resolve(c ?? 1))
  })
  console.log(`# e2e over ${transport}: exit ${code}`)
  if (code !== 0) failed = true
}
console.log(`e2e: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`)
process.exit(failed || totals.fail > 0 ? 1 : 0)
