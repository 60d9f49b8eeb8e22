// Event args (any JSON) come back value-identical: unicode, escapes, key order, nesting, numbers.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { closeAllClients, eventsOf, makeClient, makeEvents, uniqueStoreId } from '../lib/clients.mjs'
import { startServer } from '../lib/server.mjs'

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await closeAllClients()
  await server?.stop()
})

const deep = (n) => {
  let v = { leaf: 'bottom', n }
  for (let i = 0; i < n; i++) v = i % 2 === 0 ? { level: i, child: v } : [i, v, null]
  return v
}

const samples = [
  { emoji: '😀👍🏽👨‍👩‍👧‍👦🏳️‍🌈', flags: '🇩🇪🇯🇵' },
  { combining: 'e\u0301 vs \u00e9, a\u0308\u0304, Z\u0351\u0364\u036b', nfc: 'é', nfd: 'e\u0301' },
  { separators: 'line\u2028separator\u2029paragraph', ctrl: 'tab\tnl\ncr\r\u0000nul\u0001\u001f\u007f', bom: '\ufeffbom' },
  { quotes: 'she said "hi" and \'bye\'', backslashes: 'C:\\path\\to\\file \\" \\\\ \\u0041 /slash/ <\/script>', html: '<a href="x">&amp;</a>' },
  { scripts: 'Ελληνικά русский العربية עברית 中文 日本語 한국어 हिन्दी ไทย', rtl: '\u202eevil\u202c', zw: 'a\u200bb\u200dc' },
  { astral: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙 \u{10FFFF} \u{1F600}', privateUse: '\ue000\uf8ff' },
  deep(60),
  { numbers: [0, -1, 1.5, -0.0001, 0.1, 0.30000000000000004, 1e21, 1e-7, 123456789.123456789, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 9007199254740993, 1234567890123456789012, 3.141592653589793] },
  { keyOrder: { z: 1, a: 2, m: 3, B: 4, _: 5, '': 6, ' ': 7, 'ü': 8 }, second: { b: [{ y: 1, x: 2 }], a: null } },
  { types: [null, true, false, '', [], {}, [[]], [{}], { '': '' }], nested: { a: { b: { c: { d: [1, [2, [3, [4]]]] } } } } },
  'a plain string as args',
  12345.678,
  null,
  [1, 'two', { three: 3 }],
  { long: 'x'.repeat(10_000) + '😀'.repeat(1000) },
]

test('args with unicode, escapes, key order, deep nesting and numbers come back identical', async () => {
  const storeId = uniqueStoreId('json')
  const a = await makeClient(server.url, storeId)
  const events = makeEvents(1, samples.length, { args: (s) => samples[s - 1] })
  await a.push(events)
  const got = eventsOf(await a.pull())
  assert.equal(got.length, samples.length)
  for (let i = 0; i < samples.length; i++) {
    assert.equal(JSON.stringify(got[i].args), JSON.stringify(samples[i]), `sample ${i + 1} (args)`)
    assert.equal(JSON.stringify(got[i]), JSON.stringify(events[i]), `sample ${i + 1} (whole event)`)
  }

  // same through the live (broadcast) path
  const b = await makeClient(server.url, storeId, { clientId: 'client-b' })
  await b.pull()
  const live = b.live(samples.length)
  await live.waitFor((l) => l.pages.length >= 1, 5_000, 'history page')
  const more = makeEvents(samples.length + 1, 2 * samples.length, { args: (s) => samples[s - samples.length - 1] })
  await a.push(more)
  await live.waitFor((l) => l.events().length >= samples.length, 10_000, 'broadcast')
  assert.equal(JSON.stringify(live.events()), JSON.stringify(more))
  await live.stop()
})

test('unicode in event name, clientId and sessionId comes back identical', async () => {
  const a = await makeClient(server.url, uniqueStoreId('json-meta'))
  const events = makeEvents(1, 2, { name: 'tödö/Créé-v1 😀 "q" \\ \u2028', clientId: 'clïent 😀', sessionId: 'sess\u2029ion "x"' })
  await a.push(events)
  assert.equal(JSON.stringify(eventsOf(await a.pull())), JSON.stringify(events))
})

test('lone UTF-16 surrogates in strings survive the round trip', async () => {
  // JSON.stringify writes them as \\udXXX escapes; a server that decodes and re-encodes strings through
  // UTF-8 turns them into U+FFFD.
  const a = await makeClient(server.url, uniqueStoreId('json-surrogates'))
  const args = { lone: 'a\ud800b', low: '\udc00', reversed: '\udc00\ud800', end: 'x\ud83d' }
  await a.push(makeEvents(1, 1, { args }))
  const got = eventsOf(await a.pull())[0].args
  assert.equal(JSON.stringify(got), JSON.stringify(args))
})
