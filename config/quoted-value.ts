// What a configuration error may repeat back. Error lines end up in terminals, CI logs and log aggregators, so
// the value of a variable that holds a credential is never quoted (the variable's name says enough), and a
// password inside any other value (a URL's userinfo, also inside JSON) is masked before it is.

/** Names that hold credentials, or URLs that commonly carry a password (REDIS_URL, DATABASE_URL). */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSPHRASE|KEY|CREDENTIALS?|REDIS_URL|DATABASE_URL)$/;

/** `scheme://user:password@` → `scheme://***@`, wherever it occurs in the text. */
export function withoutCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s"]*@/gi, '$1***@');
}

/** The value as a config error may show it (JSON-quoted), or undefined when it must not be shown at all. */
export function quotableValue(variable: string, value: string | undefined): string | undefined {
  if (value === undefined || SECRET_NAME.test(variable)) return undefined;
  return withoutCredentials(JSON.stringify(value));
}
