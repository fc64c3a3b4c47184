import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory file the tests run with; see the file for who is in it. */
export const TEST_DIRECTORY_FILE = join(dirname(fileURLToPath(import.meta.url)), '../directory.yaml');
