// Starts the server under test, or points at an already running one.
//
//   LIVESTORE_SYNC_BIN=/path/to/livestore-sync  -> spawn `livestore-sync serve --addr 127.0.0.1:PORT --data-dir DIR`
//   E2E_EXTERNAL_URL=http://127.0.0.1:8787       -> use that server, spawn nothing (restart test is skipped)
//   E2E_TARGET=reference                          -> the target is the original @livestore/sync-cf server:
//                                                    tests for deliberate improvements are skipped
//   E2E_SERVER_LOG=1                              -> pass the spawned server's stdout/stderr through
//   E2E_POSTGRES_DB_URL=postgres://…/db          -> spawned servers keep their events in that database
//                                                    (`serve --postgres`; run.mjs sets it up)
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export const externalUrl = process.env.E2E_EXTERNAL_URL?.replace(/\/+$/, '') || undefined
export const isExternal = externalUrl !== undefined
export const isReference = process.env.E2E_TARGET === 'reference'
/** The PostgreSQL database the spawned servers use, or undefined (Pebble in a temp dir). */
export const postgresDatabaseUrl = process.env.E2E_POSTGRES_DB_URL || undefined

/** Skip reason for tests of deliberate improvements over the original server (or false). */
export const skipOnReference = (why) => (isReference ? `original server does not do this: ${why}` : false)
/** Skip reason for tests that must control the server process (or false). */
export const skipIfExternal = isExternal ? 'needs a spawned server (E2E_EXTERNAL_URL is set)' : false

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

/** Resolves once `GET /` answers 200, rejects after timeoutMs. */
export const waitUntilUp = async (url, { timeoutMs = 20_000, isAlive = () => true } = {}) => {
  const deadline = Date.now() + timeoutMs
  let lastErr
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`server process exited while waiting for ${url}`)
    try {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      lastErr = new Error(`GET / answered ${res.status}`)
    } catch (err) {
      lastErr = err
    }
    await sleep(100)
  }
  throw new Error(`server at ${url} did not come up within ${timeoutMs} ms: ${lastErr}`)
}

/**
 * A handle on the server under test: { url, external, stop(), restart(), log(), stdout() }. `args`
 * are extra flags for `livestore-sync serve`, `env` extra environment variables.
 * Call it in `before`, and `stop()` in `after`.
 */
export const startServer = async ({ args = [], env = {} } = {}) => {
  if (isExternal) {
    await waitUntilUp(externalUrl, { timeoutMs: 5_000 })
    return {
      url: externalUrl,
      external: true,
      stop: async () => {},
      restart: async () => {
        throw new Error('cannot restart an external server')
      },
    }
  }

  const bin = process.env.LIVESTORE_SYNC_BIN
  if (!bin) {
    throw new Error('set LIVESTORE_SYNC_BIN to the livestore-sync binary, or E2E_EXTERNAL_URL to a running server')
  }
  const port = await freePort()
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'livestore-sync-e2e-'))
  const url = `http://127.0.0.1:${port}`
  const passLog = process.env.E2E_SERVER_LOG === '1'

  let child
  let exited
  let done = false // the current child has exited (or never started)
  let log = ''
  let stdout = '' // standard output alone (e.g. the console span exporter's), up to 1 MB

  const spawnIt = async () => {
    done = false
    const engine = postgresDatabaseUrl ? ['--postgres', postgresDatabaseUrl] : []
    child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, ...engine, ...args], {
      stdio: ['ignore', passLog ? 'inherit' : 'pipe', passLog ? 'inherit' : 'pipe'],
      env: { ...process.env, ...env },
    })
    const c = child
    exited = new Promise((resolve) => {
      c.once('exit', (code, signal) => resolve({ code, signal }))
      c.once('error', (err) => resolve({ code: null, signal: null, error: String(err) }))
    })
    let alive = true
    exited.then(() => {
      alive = false
      done = true
    })
    const keep = (buf) => {
      log = (log + buf.toString()).slice(-20_000)
    }
    c.stdout?.on('data', (buf) => {
      keep(buf)
      stdout = (stdout + buf.toString()).slice(-1_000_000)
    })
    c.stderr?.on('data', keep)
    c.once('error', (err) => keep(`spawn error: ${err}\n`))
    try {
      await waitUntilUp(url, { isAlive: () => alive })
    } catch (err) {
      c.kill('SIGKILL')
      throw new Error(`${err.message}\n--- server log ---\n${log}`)
    }
  }

  /** SIGTERM, wait for exit (SIGKILL after killAfterMs). Returns { code, signal, ms, killed }. */
  const terminate = async ({ killAfterMs = 10_000 } = {}) => {
    if (child === undefined || done) {
      return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null, ms: 0, killed: false }
    }
    const t0 = Date.now()
    child.kill('SIGTERM')
    let timer
    const timedOut = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), killAfterMs)))
    const first = await Promise.race([exited, timedOut])
    clearTimeout(timer)
    if (first === 'timeout') {
      child.kill('SIGKILL')
      const r = await exited
      return { ...r, ms: Date.now() - t0, killed: true }
    }
    return { ...first, ms: Date.now() - t0, killed: false }
  }

  await spawnIt()

  return {
    url,
    port,
    dataDir,
    external: false,
    log: () => log,
    stdout: () => stdout,
    /** Stop the process (keeping the data dir), then start it again on the same port and data dir. */
    restart: async () => {
      const result = await terminate()
      await spawnIt()
      return result
    },
    stop: async () => {
      const result = await terminate()
      await rm(dataDir, { recursive: true, force: true })
      return result
    },
  }
}
