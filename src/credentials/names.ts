/** A credential's name, as the store accepts it (and as a completion script may safely offer it). */
export const CREDENTIAL_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
