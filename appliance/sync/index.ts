export {
  BATCH_FORMAT,
  BATCH_TOKEN,
  type BatchEntry,
  batchMsgId,
  decodeBatch,
  encodeBatch,
  FORMAT_HEADER,
  MAX_BATCH_BYTES,
  splitBatches,
} from "./batch.js";
export {
  ackSubject,
  type ChangeRecord,
  changeRecordSchema,
  HUB_STREAM,
  hubDataSubject,
  isSyncSubject,
  PREV_SEQ_HEADER,
  SEQ_HEADER,
  SYNC_STREAM,
  type SyncAck,
  syncAckSchema,
  syncSubject,
} from "./change.js";
export { compareHlc, decodeHlc, encodeHlc, Hlc, HlcDriftError, type HlcTimestamp, isHlc } from "./hlc.js";
export { syncPlugin } from "./plugin.js";
export type { SyncApi, SyncChange } from "./recorder.js";
export { type SyncBacklog, syncBacklog } from "./state.js";
export { ensureHubStream, ensureSyncStream, SYNC_STREAM_MAX_AGE_MS } from "./streams.js";
