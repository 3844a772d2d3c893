// The shipped declarations (types/) are the ones the JSDoc of src/ gives today.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

test('types/*.d.ts are generated from src/ (run `npm run types` after changing the JSDoc)', () => {
  const out = mkdtempSync(join(tmpdir(), 'sluice-types-'));
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.types.json'), '--outDir', out], {
    cwd: root,
  });
  const committed = readdirSync(join(root, 'types')).sort();
  assert.deepEqual(readdirSync(out).sort(), committed);
  for (const file of committed) {
    assert.equal(
      readFileSync(join(out, file), 'utf8'),
      readFileSync(join(root, 'types', file), 'utf8'),
      file,
    );
  }
});
