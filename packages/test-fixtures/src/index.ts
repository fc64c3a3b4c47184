export { TEST_AUDIT_KEY } from './audit-key.js';
export { call } from './commands.js';
export { TEST_DIRECTORY_FILE } from './directory.js';
export { type JaegerSpan, type JaegerTrace, type TestJaeger, useJaeger } from './jaeger.js';
export { HARBOR_DIRECTORY_FILE, HARBOR_POLICY_DIR } from './policies.js';
export {
  authenticated,
  directoryOf,
  onFileEnd,
  register,
  type TestDatabase,
  type TestNats,
  type TestNatsOptions,
  testNatsAt,
  useTestDatabase,
  useTestNats,
} from './resources.js';
export { type ServiceName, type ServiceProcess, spawnService } from './services.js';
export { testSigningKeysFile } from './signing-keys.js';
export { type WaitOptions, waitUntil } from './wait.js';
