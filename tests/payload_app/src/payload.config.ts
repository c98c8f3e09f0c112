import path from 'path'
import { fileURLToPath } from 'url'

import { sqliteAdapter } from '@payloadcms/db-sqlite'
import { buildConfig } from 'payload'

import { CrisisEvents } from './collections/CrisisEvents'
import { NetworkDevices } from './collections/NetworkDevices'
import { Users } from './collections/Users'
import { migrations } from './migrations'

const dirname = path.dirname(fileURLToPath(import.meta.url))

export default buildConfig({
  admin: { user: Users.slug },
  collections: [Users, NetworkDevices, CrisisEvents],
  secret: process.env.PAYLOAD_SECRET || 'fastpoll-test-only-secret',
  telemetry: false,
  typescript: { outputFile: path.resolve(dirname, 'payload-types.ts') },
  db: sqliteAdapter({
    client: { url: process.env.DATABASE_URI || 'file:./payload.db' },
    // `next start` runs with NODE_ENV=production, where push does nothing: the committed migration
    // (src/migrations, made by `npm run migrate:create -- init`) is applied at startup instead.
    push: true,
    prodMigrations: migrations,
  }),
})
