/** A submission as stored (its own file: the sync and the storage both use it). */
export interface SubmissionRow {
  id: string;
  form_id: string;
  version: string;
  instance_id: string;
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
