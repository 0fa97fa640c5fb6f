#!/usr/bin/env node
// hibfuzz CLI launcher: runs the TypeScript sources through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../fuzz/cli.ts');
