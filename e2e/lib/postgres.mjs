// A database of its own for a run of the suite on PostgreSQL, created on the server that
// LIVESTORE_SYNC_TEST_POSTGRES names and dropped afterwards.
import { randomBytes } from 'node:crypto'

import pg from 'pg'

/** Creates a new database on the server at serverUrl; resolves { name, url }. */
export const createDatabase = async (serverUrl) => {
  const name = `livestore_sync_e2e_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(`CREATE DATABASE "${name}"`)
  } finally {
    await client.end()
  }
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return { name, url: url.toString() }
}

/** Drops the database name on the server at serverUrl, closing its connections. */
export const dropDatabase = async (serverUrl, name) => {
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  } finally {
    await client.end()
  }
}
