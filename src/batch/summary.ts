/**
 * The end-of-run summary (stderr): counts, tokens, wall time and the rate achieved against the limit,
 * then what to do next when the run stopped early.
 */
import type { BatchSummary } from './options.js';
import { formatCount, formatDuration } from './display.js';

/** ` of 500 (98%)`; a short run's burst can go far above 100%, shown as `>999%` beyond that. */
function percentOf(value: number, limit: number | undefined): string {
  if (!limit) return '';
  const percent = Math.round((value / limit) * 100);
  return ` of ${formatCount(limit)} (${percent > 999 ? '>999' : percent}%)`;
}

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * @param resumeCommand the command line that continues this run, shown when something is left to do.
 */
export function formatSummary(s: BatchSummary, resumeCommand: string): string {
  const out: string[] = [];
  const row = (label: string, text: string) => out.push(`  ${label.padEnd(10)}${text}`);
  const headline =
    s.stopped?.reason === 'interrupt'
      ? `Interrupted after ${formatDuration(s.wallMs)}.`
      : s.stopped
        ? `Stopped after ${formatDuration(s.wallMs)}.`
        : `Done in ${formatDuration(s.wallMs)}.`;
  out.push(headline);

  const lines = [`${formatCount(s.succeeded)} succeeded`, `${formatCount(s.failed)} failed`];
  if (s.bad > 0) lines.push(`${formatCount(s.bad)} bad`);
  if (s.notAttempted > 0) lines.push(`${formatCount(s.notAttempted)} not attempted`);
  if (s.skipped > 0) lines.push(`${formatCount(s.skipped)} skipped (done earlier)`);
  if (s.abandoned > 0) lines.push(`${formatCount(s.abandoned)} abandoned in flight`);
  if (s.unsent > 0) lines.push(`${formatCount(s.unsent)} not sent`);
  if (s.unwritten > 0) lines.push(`${formatCount(s.unwritten)} answered but not written`);
  row(
    'lines',
    `${lines.join(', ')}${s.total === undefined ? '' : ` — of ${formatCount(s.total)} in the file`}`,
  );
  if (s.earlierFailed > 0)
    row('', `${formatCount(s.earlierFailed)} failed in earlier runs (kept; --retry-failed sends them again)`);
  if (s.earlierFailedGone > 0) {
    row(
      '',
      `${formatCount(s.earlierFailedGone)} earlier failures in ${s.errors} are for custom_ids no longer in the input: left in the file, not counted in the exit status (remove them from the file if they are obsolete)`,
    );
  }

  const retries = [`${formatCount(s.retries)} retries`, `${formatCount(s.rateLimited)} answered 429`];
  row('requests', `${formatCount(s.sent)} sent (${retries.join(', ')})`);
  const usage = s.promptTokens + s.completionTokens;
  row(
    'tokens',
    `${formatCount(s.tokensAdmitted)} reserved at admission; ${formatCount(usage)} used (prompt ${formatCount(s.promptTokens)} + completion ${formatCount(s.completionTokens)})`,
  );
  for (const lane of s.lanes) {
    // From the start of the run to the lane's last admission: the time its requests needed. The burst
    // the server allows at the start is in it, so a short run can show more than 100% of a limit.
    const minutes = Math.max(lane.spanMs, 1000) / 60_000;
    const rpm = lane.requests / minutes;
    const tpm = lane.tokens / minutes;
    row(
      lane === s.lanes[0] ? 'rate' : '',
      `${s.lanes.length > 1 ? `${lane.model}: ` : ''}${formatCount(rpm)} requests/min${percentOf(rpm, lane.rpmLimit)}, ${formatCount(tpm)} tokens/min${percentOf(tpm, lane.tpmLimit)}, over ${formatDuration(lane.spanMs)} (the initial burst included)`,
    );
  }
  row('output', `${s.output} (${formatCount(s.outputLines)} new lines)`);
  const errorsNow = s.failed + s.bad + s.notAttempted;
  if (errorsNow + s.earlierFailed + s.errorLines > 0) {
    row('errors', `${s.errors} (${formatCount(s.errorLines)} new lines)`);
  }
  if (s.windowBound) {
    out.push(
      `  hint      all ${s.maxInFlight} requests of the window were often on the wire with none waiting for the limits: a larger --max-in-flight may finish sooner.`,
    );
  }

  if (s.stopped && s.stopped.reason !== 'interrupt') {
    out.push('');
    out.push(s.stopped.message);
    if (s.notAttempted > 0) {
      out.push(
        `${formatCount(s.notAttempted)} lines were not sent; they are in ${s.errors} as not_attempted, and --resume sends them.`,
      );
    }
    if (s.unwritten > 0) {
      out.push(
        `${plural(s.unwritten, 'answer')} could not be written; --resume sends ${s.unwritten === 1 ? 'that line' : 'those lines'} again.`,
      );
    }
    if (s.stopped.reason === 'quota') {
      out.push(
        'Fix the plan or billing (https://platform.openai.com/settings/organization/billing), then run:',
      );
    } else if (s.stopped.reason === 'write_error') {
      out.push('Free some space or fix the file (or choose another --output / --errors), then run:');
    } else {
      out.push('When that is fixed, run:');
    }
    out.push(`  ${resumeCommand}`);
  } else if (s.stopped?.reason === 'interrupt') {
    out.push('');
    if (s.unwritten > 0) {
      out.push(`${plural(s.unwritten, 'answer')} could not be written (${s.output} or ${s.errors}).`);
    }
    out.push('Lines not finished were not written; to run them, continue with:');
    out.push(`  ${resumeCommand}`);
  } else if (s.failed > 0 && s.earlierFailed + s.failed > 0) {
    out.push('');
    out.push(`To send the failed lines again: ${resumeCommand} --retry-failed`);
  }
  return out.join('\n');
}
