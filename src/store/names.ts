import { randomBytes, randomInt } from 'node:crypto';

const ADJECTIVES = [
  'brave',
  'calm',
  'clever',
  'eager',
  'fancy',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lively',
  'merry',
  'nimble',
  'proud',
  'quick',
  'quiet',
  'rapid',
  'sharp',
  'shiny',
  'silent',
  'steady',
  'swift',
  'tidy',
  'witty',
  'bold',
  'bright',
  'cosy',
  'crisp',
  'daring',
  'fresh',
  'grand',
  'humble',
  'lucky',
  'mellow',
  'noble',
  'plucky',
  'sunny',
];
const ANIMALS = [
  'badger',
  'beaver',
  'bison',
  'crane',
  'dingo',
  'eagle',
  'ferret',
  'gecko',
  'heron',
  'ibis',
  'jaguar',
  'koala',
  'lemur',
  'lynx',
  'marten',
  'newt',
  'otter',
  'panda',
  'puffin',
  'quail',
  'raven',
  'seal',
  'stoat',
  'tapir',
  'toucan',
  'vole',
  'walrus',
  'wombat',
  'yak',
  'zebra',
  'falcon',
  'hare',
  'ibex',
  'moose',
  'orca',
  'owl',
];

export const RUN_ID_RE = /^run_[0-9a-f]{12}$/;
export const RUN_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function newRunId(): string {
  return `run_${randomBytes(6).toString('hex')}`;
}

/** An adjective-animal name not in `taken` (a numeric suffix after many collisions). */
export function newRunName(taken: ReadonlySet<string>): string {
  for (let i = 0; i < 50; i++) {
    const n = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${ANIMALS[randomInt(ANIMALS.length)]}`;
    if (!taken.has(n)) return n;
  }
  for (let i = 2; ; i++) {
    const n = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${ANIMALS[randomInt(ANIMALS.length)]}-${i}`;
    if (!taken.has(n)) return n;
  }
}
