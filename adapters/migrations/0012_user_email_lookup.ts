// ID-JAG redemption finds the local user by the IdP's `email` claim (issuance/id-jag-users.ts), on every token
// request of a linked IdP: an index keeps that from scanning the users table. On lower(email) because addresses
// are matched case-insensitively (how every mail system in practice treats the local part).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('users_email_lower').on('users').expression(sql`lower(email)`).execute();
}
