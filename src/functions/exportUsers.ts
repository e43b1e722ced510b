import { app, type InvocationContext, type Timer } from '@azure/functions';
import { runExport, toExportError } from '../export.js';
import { timerSchedule } from '../settings.js';

/**
 * Exports every user of the tenant to Blob Storage on the `EXPORT_SCHEDULE` schedule (NCRONTAB, UTC by
 * default). Throws on failure so the invocation is recorded as failed and the retry policy applies.
 */
export async function handler(timer: Timer, context: InvocationContext): Promise<void> {
  context.log(`exportUsers triggered (isPastDue: ${timer.isPastDue}, next: ${timer.scheduleStatus?.next ?? 'unknown'}).`);
  try {
    await runExport({ log: { info: (m) => context.log(m), warn: (m) => context.warn(m), error: (m) => context.error(m) } });
  } catch (e) {
    const error = toExportError(e);
    context.error(`Export failed [${error.code}]: ${error.message}`);
    throw error;
  }
}

app.timer('exportUsers', {
  // '%EXPORT_SCHEDULE%' when that app setting is set, else the default expression (see timerSchedule).
  schedule: timerSchedule(),
  runOnStartup: false,
  // A failed run (throttling storm, transient outage) is retried a few times before the next schedule.
  retry: { strategy: 'exponentialBackoff', maxRetryCount: 3, minimumInterval: { minutes: 1 }, maximumInterval: { minutes: 15 } },
  handler,
});
