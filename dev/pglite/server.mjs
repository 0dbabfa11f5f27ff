// PostgreSQL for RagTune's PostgreSQL store tests and CI: PGlite (PostgreSQL compiled to WASM) with pgvector,
// served over the PostgreSQL wire protocol on loopback by pglite-socket. Not for production (see docs/postgres.md).
//
//   node server.mjs [--port 0] [--ready-file PATH] [--max-connections 8] [--db memory://]
//
// PGlite is ONE backend. pglite-socket multiplexes several client connections onto it at transaction
// granularity: while one connection is inside a transaction, the others' statements wait; a connection that drops
// mid-transaction is rolled back. Session state (SET, named prepared statements) is shared by all connections,
// which is why the store uses SET LOCAL and unprepared statements. Once listening, prints
// "listening 127.0.0.1:PORT" and, with --ready-file, writes the port there (what the test fixture waits for).
import { writeFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []))
const port = Number(args.port ?? 0)
const maxConnections = Number(args['max-connections'] ?? 8)

const db = await PGlite.create(args.db ?? 'memory://', { extensions: { vector } })
await db.exec('CREATE EXTENSION IF NOT EXISTS vector')
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections })
server.addEventListener('error', (e) => console.error('pglite-socket:', e.detail ?? e))
await server.start()
const address = server.server?.address?.()
const bound = typeof address === 'object' && address ? address.port : port
console.log(`listening 127.0.0.1:${bound}`)
if (args['ready-file']) writeFileSync(args['ready-file'], String(bound))

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
