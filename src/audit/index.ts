/**
 * The audit log: a tamper-evident, signed, verifiable record of what happened in a run.
 *
 * - Entries {seq, ts, type, data, prev, hash} are appended to `<runDir>/audit.jsonl` (canonical.ts,
 *   store.ts) by exactly one writer process per run (writer.ts; lock file `<runDir>/audit.lock`).
 * - hash = sha256(canonical {data, prev, seq, ts, type}); prev chains entries; seq counts from 1.
 * - An RFC 6962 Merkle tree over the entries (leaf input = the 32-byte entry hash) lets one entry be
 *   proven against a signed root without revealing the others (merkle.ts, run-log.ts prove()).
 * - Ed25519 checkpoints {runId, count, root, ts, final} are signed with the home key (signing.ts) every
 *   N entries / T seconds and at close; `final` marks the close, so entries after it are a forged append.
 * - verify.ts checks hashes, sequence, chain, signatures, completeness and Merkle roots in one streaming
 *   pass; bundle.ts verifies exported bundles and inclusion proofs offline.
 */
export * from './types.js';
export { canonicalJson, decodeEntry, encodeEntry, parseLine } from './canonical.js';
export { MerkleAccumulator, auditPath, leafHash, leafOfEntry, nodeHash, rootFromPath, treeHead, verifyInclusion, EMPTY_ROOT } from './merkle.js';
export type { AuditSigner } from './signing.js';
export { generateSigner, keyFingerprint, loadOrCreateSigner, loadPublicKey, parsePublicKey, signCheckpoint, signingKeyPaths } from './signing.js';
export type { AuditStore } from './store.js';
export { JsonlAuditStore, acquireWriterLock, activeWriter, ENTRIES_FILE, CHECKPOINTS_FILE } from './store.js';
export type { AuditWriterOptions, ResumedLog } from './writer.js';
export { AuditWriter } from './writer.js';
export type { VerifyOptions } from './verify.js';
export { RunVerifier, verifyRun } from './verify.js';
export type { AuditBundle, InclusionProof, KeyOption } from './bundle.js';
export { BUNDLE_FORMAT, PROOF_FORMAT, startBundleCheck, verifyBundle, verifyDocument, verifyProof } from './bundle.js';
export { verifyDocumentFile } from './bundle-file.js';
export { bundleFromStore, exportBundle, listEntries, prove, verifyStore } from './run-log.js';
