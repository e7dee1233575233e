/** Names of the CA files, without a certificate library (the CLI's light commands import these). */
export const ROUTING_CA_NAME = 'Moat Local Routing CA';
/** The CA certificate's file in a CA folder (the interception CA and the routing CA alike). */
export const CA_CERT_FILE = 'ca.pem';
