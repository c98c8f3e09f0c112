import * as migration_20261125_042416_init from './20261125_042416_init';

export const migrations = [
  {
    up: migration_20261125_042416_init.up,
    down: migration_20261125_042416_init.down,
    name: '20261125_042416_init'
  },
];
