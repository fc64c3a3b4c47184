export { type TestDatabase, type TestNats, useTestDatabase, useTestNats } from './resources.js';
export { type WaitOptions, waitUntil } from './wait.js';
