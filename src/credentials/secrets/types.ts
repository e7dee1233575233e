import type { SecretReference } from '../../secret-reference.js';

/** Plain data of the `secrets:` feature: what moat.yaml asks for, and what the host resolved. */

/** One entry of moat.yaml's `secrets:`, normalised (the shorthand string is `{ from }`). */
export interface SecretSpec {
  /** The container variable that carries the placeholder (or, with `expose: env`, the value). */
  name: string;
  from: SecretReference;
  /** Hosts the real value may be sent to; empty: nowhere. */
  hosts: string[];
  expose?: 'env';
}

/** A secret resolved on the host. `value` lives only in memory and in the run's encrypted secrets file. */
export interface ResolvedSecret {
  name: string;
  scheme: SecretReference['scheme'];
  /** The reference (never a value), for messages and the audit. */
  ref: string;
  value: string;
  placeholder: string;
  hosts: string[];
  expose?: 'env';
}
