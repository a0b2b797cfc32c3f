/** One part of a multipart submission as kept on the device: the instance XML or an attachment. */
export interface QueuedPart {
  name: string;
  blob: Blob;
  filename: string;
}
