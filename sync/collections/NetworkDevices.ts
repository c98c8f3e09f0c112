import type { Access, CollectionConfig } from 'payload'

// fastpoll's sync (sync/reconcile.py) owns these documents: it creates them from LibreNMS's `devices` table,
// PATCHes only the fields that changed, and marks those gone from LibreNMS with removedFromLibrenms.
// A document created by hand without librenmsId is added to LibreNMS by sync/librenms_api.py.
// After changing a field here: `npm run migrate:create -- <name>` in tests/payload_app and commit the migration.

const loggedIn: Access = ({ req }) => Boolean(req.user)

export const NetworkDevices: CollectionConfig = {
  slug: 'network-devices',
  admin: {
    useAsTitle: 'hostname',
    defaultColumns: ['hostname', 'ip', 'status', 'os', 'location', 'lastPolled'],
  },
  access: { read: loggedIn, create: loggedIn, update: loggedIn, delete: loggedIn },
  fields: [
    { name: 'hostname', type: 'text', required: true, unique: true, index: true },
    { name: 'ip', type: 'text' },
    { name: 'librenmsId', label: 'LibreNMS device_id', type: 'number', unique: true, index: true },
    {
      name: 'status',
      type: 'select',
      defaultValue: 'unknown',
      options: [
        { label: 'Up', value: 'up' },
        { label: 'Down', value: 'down' },
        { label: 'Unknown', value: 'unknown' },
      ],
    },
    { name: 'statusReason', type: 'text' },
    { name: 'uptime', label: 'Uptime (seconds)', type: 'number' },
    { name: 'os', type: 'text' },
    { name: 'hardware', type: 'text' },
    { name: 'version', type: 'text' },
    { name: 'serial', type: 'text' },
    { name: 'location', type: 'text' },
    { name: 'sysName', type: 'text' },
    { name: 'lastPolled', type: 'date', admin: { date: { pickerAppearance: 'dayAndTime' } } },
    { name: 'pollerGroup', type: 'number' },
    { name: 'disabled', type: 'checkbox', defaultValue: false },
    { name: 'ignore', label: 'Ignored (alerts off)', type: 'checkbox', defaultValue: false },
    // Set by sync on each write (create or PATCH); an unchanged device is not written, so this is the
    // time of the last change that came from LibreNMS.
    { name: 'lastSyncedAt', type: 'date', admin: { readOnly: true } },
    { name: 'removedFromLibrenms', type: 'checkbox', defaultValue: false, index: true },
  ],
}
