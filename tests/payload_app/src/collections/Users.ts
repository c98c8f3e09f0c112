import type { CollectionConfig } from 'payload'

/** The API user fastpoll's sync authenticates as: `Authorization: users API-Key <key>`. */
export const Users: CollectionConfig = {
  slug: 'users',
  auth: { useAPIKey: true },
  admin: { useAsTitle: 'email' },
  fields: [],
}
