/**
 * The hub's tables for offering bundles to boxes (bundles.ts): each uploaded release (its tar.gz in the blob
 * store by sha256), its staged rollout (stages resolved to site lists when approved, the stage reached, its
 * state) and what each site reported back.
 */
// (The shape of migrations.ts's Migration, written out: that file includes this list, so no import back.)
export const bundleMigrations: { name: string; statements: string[] }[] = [
  {
    name: "1797292800_bundle_rollouts",
    statements: [
      `CREATE TABLE bundle_releases (
        version text PRIMARY KEY,
        sha256 text NOT NULL,
        size bigint NOT NULL,
        build_time text NOT NULL,
        uploaded_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE bundle_rollouts (
        version text PRIMARY KEY REFERENCES bundle_releases (version),
        stages jsonb NOT NULL,
        stage integer NOT NULL DEFAULT 0,
        state text NOT NULL CHECK (state IN ('active', 'halted', 'done')),
        reason text,
        approved_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE bundle_reports (
        site text NOT NULL,
        version text NOT NULL,
        outcome text NOT NULL,
        reason text,
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site, version)
      )`,
    ],
  },
];
