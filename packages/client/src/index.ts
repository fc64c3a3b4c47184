export { type CallOptions, callEndpoint, readReply } from './call.js';
