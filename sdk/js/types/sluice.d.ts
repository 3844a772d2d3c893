/**
 * Sluice's JavaScript client: `import { Client } from '@sluice/client'`, or in a
 * browser from the gateway itself: `import { Client } from '/sdk/sluice.js'`.
 * Plain ES modules, no build step and no dependencies.
 */
export { Client, Subscription } from './client.js';
export { SluiceError } from './error.js';
export { ClientProtocol } from './protocol.js';
export { subjectProblem } from './subject.js';
export type ClientOptions = import('./client.js').ClientOptions;
export type SubscribeOptions = import('./client.js').SubscribeOptions;
export type PublishOptions = import('./client.js').PublishOptions;
export type Ack = import('./client.js').Ack;
export type Message = import('./protocol.js').Message;
export type MessageType = import('./protocol.js').MessageType;
export type SubscriptionStatus = import('./protocol.js').SubscriptionStatus;
export type ConnectionState = import('./protocol.js').ConnectionState;
/**
 * @typedef {import('./client.js').ClientOptions} ClientOptions
 * @typedef {import('./client.js').SubscribeOptions} SubscribeOptions
 * @typedef {import('./client.js').PublishOptions} PublishOptions
 * @typedef {import('./client.js').Ack} Ack
 * @typedef {import('./protocol.js').Message} Message
 * @typedef {import('./protocol.js').MessageType} MessageType
 * @typedef {import('./protocol.js').SubscriptionStatus} SubscriptionStatus
 * @typedef {import('./protocol.js').ConnectionState} ConnectionState
 */
