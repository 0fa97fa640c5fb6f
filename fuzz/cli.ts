// hibfuzz CLI entry point (bin/hibfuzz.mjs imports it): runs main() on process.argv and sets the exit status.
// SIGINT stops a campaign at the next run; it still prints its summary and writes its reports.
// Nothing escapes as exit 1 (the "violation found" status): an error outside main() is one line and exit 2, and a
// closed stdout (`| head`) ends the process quietly with the status it had.
import { processIo } from './cli-kit.ts';
import { EXIT } from './exit-code.ts';
import { main } from './main.ts';

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];
process.on('uncaughtException', (e) => {
  process.stderr.write(`hibfuzz: ${oneLine(e)}\n`);
  // a finding already reported (status 1) wins over an error after it
  process.exit(process.exitCode === EXIT.VIOLATED ? EXIT.VIOLATED : EXIT.ERROR);
});
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') process.stderr.write(`hibfuzz: cannot write to stdout: ${oneLine(e)}\n`);
  process.exit(e.code === 'EPIPE' ? (process.exitCode ?? EXIT.ERROR) : EXIT.ERROR);
});

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
});
process.exitCode = await main(process.argv.slice(2), { ...processIo(), interrupted: () => interrupted });
