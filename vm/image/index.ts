// Public surface of vm/image: parse, check, write and corrupt swsusp swap images (the kernel's on-disk format).
export * from './agent-tag.ts';
export * from './check.ts';
export * from './corrupt.ts';
export * from './crc32.ts';
export * from './fixture.ts';
export * from './format.ts';
export * from './lz4.ts';
export * from './lzo.ts';
export * from './parse.ts';
export * from './write.ts';
