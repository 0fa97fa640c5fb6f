// Entry of the fake qemu-system-x86_64 (fake-qemu.ts; README.md here): `--version` at once, like QEMU 7.2;
// everything else through tsx, as bin/hibfuzz.mjs runs the sources.
if (process.argv.includes('--version')) {
  process.stdout.write(
    'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3) [hibfuzz fake]\n' +
      'Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n',
  );
  process.exit(0);
}
const { register } = await import('tsx/esm/api');
register();
await import('./fake-qemu.ts');
