/**
 * `moat open --ca`: where the router's own CA certificate is and how to make a browser trust it, per OS.
 * The routing CA (gateway/routing-ca.ts) can only certify localhost, *.localhost, 127.0.0.0/8 and ::1,
 * so trusting it vouches for nothing else; the interception CA (~/.moat/ca/ca.pem) must never be trusted
 * by a browser.
 */
import { ROUTING_CA_NAME } from '../gateway/ca-names.js';

const q = (p: string): string => `'${p.replace(/'/g, `'\\''`)}'`;

/** The commands that add `cert` to the trust stores browsers read on `platform`. */
export function trustSteps(cert: string, platform: NodeJS.Platform): string[] {
  const c = q(cert);
  const firefox = [
    'Firefox (its own store, every OS): Settings → Privacy & Security → Certificates → View Certificates → Authorities →',
    `  Import ${cert}, tick "Trust this CA to identify websites".`,
  ];
  if (platform === 'darwin')
    return [
      'macOS (Safari, Chrome, Edge read the keychain):',
      `  security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db ${c}`,
      `  remove: security delete-certificate -c '${ROUTING_CA_NAME}' ~/Library/Keychains/login.keychain-db`,
      ...firefox,
    ];
  if (platform === 'win32')
    return [
      'Windows (Edge, Chrome read the user store):',
      `  certutil -user -addstore Root "${cert}"`,
      `  remove: certutil -user -delstore Root "${ROUTING_CA_NAME}"`,
      ...firefox,
    ];
  return [
    "Linux, Chromium and Chrome (the user's NSS database; certutil is in libnss3-tools):",
    `  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n '${ROUTING_CA_NAME}' -i ${c}`,
    `  remove: certutil -d sql:$HOME/.pki/nssdb -D -n '${ROUTING_CA_NAME}'`,
    `Linux, Firefox: certutil -d sql:$HOME/.mozilla/firefox/PROFILE -A -t C,, -n '${ROUTING_CA_NAME}' -i ${c}, or`,
    ...firefox,
    `Command-line tools: curl --cacert ${c} https://…`,
  ];
}

/** The whole answer of `moat open --ca`. */
export function routingCaHelp(cert: string, exists: boolean, platform: NodeJS.Platform, interceptionCert: string): string[] {
  return [
    `The routing CA: ${cert}${exists ? '' : ' (created when the first run with ports starts)'}`,
    'It can only certify localhost, *.localhost, 127.0.0.0/8 and ::1 (X.509 name constraints), so a browser that trusts it',
    `trusts nothing else. Never add ${interceptionCert} (the CA runs trust for interception) to a browser.`,
    '',
    ...trustSteps(cert, platform),
  ];
}
