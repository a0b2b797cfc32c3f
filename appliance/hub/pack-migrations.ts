/**
 * The hub's tables for distributing model packs to boxes (packs.ts): each uploaded pack (its file in the blob
 * store by sha256), the one assignment per model name (which version, to all sites or a list, whether an
 * unassignment removes it from the boxes) and what each site reported for each model name.
 */
// (The shape of migrations.ts's Migration, written out: that file includes this list, so no import back.)
export const packMigrations: { name: string; statements: string[] }[] = [
  {
    name: "1797379200_model_packs",
    statements: [
      `CREATE TABLE model_packs (
        name text NOT NULL,
        version text NOT NULL,
        sha256 text NOT NULL,
        size bigint NOT NULL,
        task text NOT NULL,
        license text NOT NULL,
        signer text NOT NULL,
        uploaded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, version)
      )`,
      `CREATE TABLE model_assignments (
        name text PRIMARY KEY,
        version text NOT NULL,
        sites jsonb,
        remove_on_unassign boolean NOT NULL DEFAULT false,
        state text NOT NULL CHECK (state IN ('assigned', 'unassigned')),
        updated_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (name, version) REFERENCES model_packs (name, version)
      )`,
      `CREATE TABLE model_reports (
        site text NOT NULL,
        name text NOT NULL,
        version text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('installed', 'failed', 'removed')),
        reason text,
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site, name)
      )`,
    ],
  },
];
