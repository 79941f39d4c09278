// Token type identifiers (RFC 8693 §3, and those other specifications registered). Note the mix: `id_token` and
// `txn_token` with underscores.
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  saml1: 'urn:ietf:params:oauth:token-type:saml1',
  saml2: 'urn:ietf:params:oauth:token-type:saml2',
  /** draft-ietf-oauth-transaction-tokens */
  txnToken: 'urn:ietf:params:oauth:token-type:txn_token',
  selfSigned: 'urn:ietf:params:oauth:token-type:self_signed',
  unsignedJson: 'urn:ietf:params:oauth:token-type:unsigned_json',
  /** draft-ietf-oauth-identity-assertion-authz-grant (note: a hyphen, not an underscore) */
  idJag: 'urn:ietf:params:oauth:token-type:id-jag',
} as const;

/** The JWT `typ` header of a Txn-Token (draft-ietf-oauth-transaction-tokens; media type application/txntoken+jwt). */
export const TXN_TOKEN_TYP = 'txntoken+jwt';

/** The JWT `typ` an ID-JAG carries (draft-ietf-oauth-identity-assertion-authz-grant §3); `application/` prefixed is
 *  the same media type. */
export const ID_JAG_TYP = 'oauth-id-jag+jwt';

/** A JWT `typ` header value as a media type without the optional `application/` prefix (RFC 7515 §4.1.9). */
export function mediaTypeOf(typ: string): string {
  return typ.toLowerCase().replace(/^application\//, '');
}

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
