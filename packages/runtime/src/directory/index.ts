export { Directory, DirectoryError, type OidcClaims, type Principal } from './directory.js';
export { type DirectoryHolder, type DirectoryOptions, openDirectory } from './holder.js';
export { DirectoryFile, type PersonEntry, type ServiceEntry } from './schema.js';
