// Stands in for a person's browser where a CLI opens one ($BROWSER="node test/support/sign-in-browser.ts"): signs in
// at the login page as LOGIN_USERNAME / LOGIN_PASSWORD, consents, and follows the redirect back to the loopback.
import { signInAndConsent } from './browser.ts';

const [authorizationUrl] = process.argv.slice(2);
const url = new URL(authorizationUrl);
const redirectUri = url.searchParams.get('redirect_uri')!;
const returned = await signInAndConsent(url, redirectUri, { username: process.env.LOGIN_USERNAME!, password: process.env.LOGIN_PASSWORD! });
await fetch(returned);
