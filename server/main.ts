// `npm start`: load settings, start, and stop cleanly on SIGTERM/SIGINT (in-flight requests finish and
// buffered audit events are written before the process exits). Everything it says is a JSON log line on
// stdout; after the start-up progress lines one says `listening on <url> …`, which tooling and the tests read.
import { ConfigurationError, loadSettings, type Settings } from '../config/settings.ts';
import { createLogger, type Logger } from './logger.ts';

let settings: Settings;
try {
  settings = loadSettings();
} catch (error) {
  if (error instanceof ConfigurationError) {
    // LOG_LEVEL itself may be what is wrong: a configuration error is always written.
    createLogger({ level: 'info' }).fatal({ variable: error.variable }, `Invalid configuration: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

const logger: Logger = createLogger({ level: settings.logLevel });
// A crash is still a crash (exit 1, as Node does), but said as a log line like everything else.
process.once('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception; exiting');
  process.exit(1);
});
try {
  if (settings.adminTokenGenerated) {
    const { keptDevelopmentAdminToken } = await import('../config/development-admin-token.ts');
    settings = { ...settings, adminToken: await keptDevelopmentAdminToken(settings.dataDir, settings.adminToken) };
  }
  const tracing = settings.tracing === 'otlp' ? await (await import('./tracing.ts')).startOtlpTracing() : undefined;
  // Imported only once the settings are known good, so a configuration error is the one line printed.
  const { startServer } = await import('./start.ts');
  const server = await startServer(settings, { logger, announceProgress: true });
  // The start-up lines are written at any LOG_LEVEL but silent: tooling waits for `listening on`.
  const announce = settings.logLevel === 'silent' ? logger : logger.child({}, { level: 'info' });
  announce.info({ url: server.url, issuer: server.issuer }, `agentauth listening on ${server.url} (issuer ${server.issuer})`);
  announce.info(
    { sessions: server.storage.sessions, database: server.storage.database, tracing: settings.tracing },
    `storage: sessions in ${server.storage.sessions === 'redis' ? 'Redis' : 'process memory'}, records in ${server.storage.database === 'postgres' ? 'PostgreSQL' : `embedded PGlite (${settings.dataDir})`}`,
  );
  if (server.storage.sessions === 'memory') {
    logger.warn('REDIS_URL is unset; sessions and tokens live in this process only (one instance, lost on restart)');
  }
  if (settings.adminTokenGenerated) {
    // Development only (production requires ADMIN_TOKEN): the operator needs to see it once to use the admin API.
    announce.info(`development admin token (kept in ${settings.dataDir}; set ADMIN_TOKEN to choose your own): ${settings.adminToken}`);
  }

  const shutdown = async (signal: string) => {
    logger.info({ signal }, `${signal} received, shutting down`);
    const forced = setTimeout(() => process.exit(1), 10_000);
    forced.unref();
    await server.close();
    await tracing?.shutdown();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
} catch (error) {
  logger.fatal(`agentauth failed to start: ${(error as Error).message}`);
  process.exit(1);
}
