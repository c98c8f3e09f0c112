// Copies the shipped collection configs (sync/collections/*.ts, the one source of truth) into this app.
// Runs before `next build` and `payload migrate:create` (npm pre-scripts) and from the pytest fixture.
// A file whose content is already the same is left alone, so its mtime does not force a rebuild.
import { copyFileSync, existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const source = path.resolve(here, '../../../sync/collections')
const target = path.resolve(here, '../src/collections')
for (const name of readdirSync(source)) {
  if (!name.endsWith('.ts')) continue
  const from = path.join(source, name)
  const to = path.join(target, name)
  if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) continue
  copyFileSync(from, to)
}
