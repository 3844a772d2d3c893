/**
 * Sluice's JavaScript client: `import { Client } from '@sluice/client'`, or in a
 * browser from the gateway itself: `import { Client } from '/sdk/sluice.js'`.
 * Plain ES modules, no build step and no dependencies.
 */
export { Client, Subscription } from './client.js';
export { SluiceError } from './error.js';
export { ClientProtocol } from './protocol.js';
export { subjectProblem } from './subject.js';
