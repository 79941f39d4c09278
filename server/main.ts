// `npm start`: load settings, start, and stop cleanly on SIGTERM/SIGINT (in-flight requests finish and
// buffered audit events are written before the process exits).
import { ConfigurationError, loadSettings, type Settings } from '../config/settings.ts';

let settings: Settings;
try {
  settings = loadSettings();
} catch (error) {
  if (error instanceof ConfigurationError) {
    console.error(`Invalid configuration: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

try {
  if (settings.adminTokenGenerated) {
    const { keptDevelopmentAdminToken } = await import('../config/development-admin-token.ts');
    settings = { ...settings, adminToken: await keptDevelopmentAdminToken(settings.dataDir, settings.adminToken) };
  }
  // Imported only once the settings are known good, so a configuration error is the one line printed.
  const { startServer } = await import('./start.ts');
  const server = await startServer(settings);
  console.log(`agentauth listening on ${server.url}`);
  console.log(`issuer: ${server.issuer}`);
  console.log(`storage: sessions in ${server.storage.sessions === 'redis' ? 'Redis' : 'process memory'}, records in ${server.storage.database === 'postgres' ? 'PostgreSQL' : `embedded PGlite (${settings.dataDir})`}`);
  if (server.storage.sessions === 'memory') {
    console.warn('warning: REDIS_URL is unset; sessions and tokens live in this process only (one instance, lost on restart)');
  }
  if (settings.adminTokenGenerated) {
    console.log(`development admin token (kept in ${settings.dataDir}; set ADMIN_TOKEN to choose your own): ${settings.adminToken}`);
  }

  const shutdown = async (signal: string) => {
    console.log(`${signal} received, shutting down`);
    const forced = setTimeout(() => process.exit(1), 10_000);
    forced.unref();
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
} catch (error) {
  console.error(`agentauth failed to start: ${(error as Error).message}`);
  process.exit(1);
}
