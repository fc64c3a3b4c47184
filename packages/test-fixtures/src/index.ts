export { call } from './commands.js';
export { TEST_DIRECTORY_FILE } from './directory.js';
export { onFileEnd, type TestDatabase, type TestNats, useTestDatabase, useTestNats } from './resources.js';
export { type ServiceName, type ServiceProcess, spawnService } from './services.js';
export { type WaitOptions, waitUntil } from './wait.js';
