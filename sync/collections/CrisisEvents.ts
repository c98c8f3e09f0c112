import type { Access, CollectionConfig } from 'payload'

// Opened by fastpoll (sync/crisis.py) when a device goes down, reboots or loses an uplink; resolved
// (resolvedAt set) when it recovers. dedupKey names the condition ("device_down:librenms:42"); openKey
// equals dedupKey while the event is open and is cleared on resolve, and its unique index makes a second
// open event for the same condition impossible, even with two notifiers racing.

const loggedIn: Access = ({ req }) => Boolean(req.user)

export const CrisisEvents: CollectionConfig = {
  slug: 'crisis-events',
  admin: {
    useAsTitle: 'message',
    defaultColumns: ['device', 'type', 'severity', 'startedAt', 'resolvedAt'],
  },
  access: { read: loggedIn, create: loggedIn, update: loggedIn, delete: loggedIn },
  fields: [
    { name: 'device', type: 'relationship', relationTo: 'network-devices', index: true },
    { name: 'type', type: 'text', required: true, index: true },
    {
      name: 'severity',
      type: 'select',
      required: true,
      defaultValue: 'warning',
      options: [
        { label: 'Info', value: 'info' },
        { label: 'Warning', value: 'warning' },
        { label: 'Critical', value: 'critical' },
      ],
    },
    { name: 'message', type: 'textarea' },
    { name: 'startedAt', type: 'date', required: true, admin: { date: { pickerAppearance: 'dayAndTime' } } },
    { name: 'resolvedAt', type: 'date', index: true, admin: { date: { pickerAppearance: 'dayAndTime' } } },
    { name: 'librenmsId', label: 'LibreNMS device_id', type: 'number', index: true },
    { name: 'hostname', type: 'text' },
    { name: 'subject', type: 'text', admin: { description: 'What failed inside the device, e.g. a port name' } },
    { name: 'source', type: 'text', defaultValue: 'fastpoll' },
    { name: 'dedupKey', type: 'text', required: true, index: true },
    { name: 'openKey', type: 'text', unique: true, admin: { readOnly: true } },
  ],
}
