// hibfuzz CLI entry point (bin/hibfuzz.mjs imports it): runs main() on process.argv and sets the exit status.
// SIGINT stops a campaign at the next run; it still prints its summary and writes its reports.
import { processIo } from './cli-kit.ts';
import { main } from './main.ts';

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
});
process.exitCode = await main(process.argv.slice(2), { ...processIo(), interrupted: () => interrupted });
