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
