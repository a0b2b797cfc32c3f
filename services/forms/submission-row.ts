/** A submission as stored (its own file: the sync and the storage both use it). */
export interface SubmissionRow {
  id: string;
  form_id: string;
  version: string;
  /** The first instanceID: the submission's identity (and its key on the hub). */
  instance_id: string;
  /** The instanceID of the current revision (an OpenRosa edit gives a new one). */
  current_instance_id: string;
  instance_name: string | null;
  xml: string;
  xml_sha256: string;
  fields: string;
  expected: string;
  complete: number;
  review_state: string;
  review_comment: string | null;
  revision: number;
  submitter: string;
  site: string;
  received_at: string;
  updated_at: string;
}
