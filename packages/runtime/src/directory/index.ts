export {
  canonicalJson,
  checkActivation,
  DIRECTORY_CHANGE_ACTION_TYPE,
  type DirectoryChange,
  DirectoryChangeError,
  type DirectoryDiff,
  directoryDiff,
  directoryDigest,
  MAX_DIRECTORY_BYTES,
  MAX_ROLE_GRANTS,
  prepareDirectoryChange,
  type RoleChange,
} from './change.js';
export { Directory, DirectoryError, type OidcClaims, type Principal } from './directory.js';
export {
  type DirectoryHolder,
  type DirectoryOptions,
  type OpenedDirectory,
  openDirectory,
} from './holder.js';
export { DirectoryFile, type PersonEntry, type ServiceEntry } from './schema.js';
export {
  APPROVAL_HEADER,
  type ApprovedEntry,
  DEFAULT_DIRECTORY_BUCKET,
  type DirectoryStoreFollower,
  type DirectoryStoreOptions,
  directoryStream,
  ensureDirectoryStore,
  followDirectoryStore,
  type LiveDirectory,
  liveSubject,
  putLiveDirectory,
  type Resolution,
  readLiveDirectory,
  resolveDirectoryStore,
} from './store.js';
