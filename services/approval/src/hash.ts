/** The one canonical JSON and its hash live in the contract, where the SDKs compute them too. */
export { canonicalJson, sha256Hex } from '@countersign/contracts';
