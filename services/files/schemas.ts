/** Request schemas of the files API (zod; invalid input is a 400 before any handler runs). */
import { z } from "@hono/zod-openapi";

export const idParam = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "malformed id") });
export const versionParams = idParam.extend({ version: z.coerce.number().int().min(1) });
export const spaceParam = z.object({ space: z.string().min(1).max(80) });
export const tokenParam = z.object({ token: z.string().min(1).max(200) });

const path = z.string().min(1).max(4096);
const metadataValue = z.union([z.string().max(2048), z.number(), z.boolean(), z.null()]);

export const folderBody = z.object({ path }).strict();

export const patchNodeBody = z
  .object({
    name: z.string().min(1).max(1024).optional(),
    /** Folder to move into, from the space root; "" is the root. */
    parentPath: z.string().max(4096).optional(),
    metadata: z
      .record(z.string().min(1).max(64), metadataValue)
      .refine((m) => Object.keys(m).length <= 64, "at most 64 metadata keys")
      .refine(
        (m) => !Object.keys(m).some((k) => k.startsWith("ai.")),
        "ai.* keys are the AI service's results",
      )
      .optional(),
  })
  .strict()
  .refine((b) => b.name !== undefined || b.parentPath !== undefined || b.metadata !== undefined, {
    message: "give name, parentPath or metadata",
  });

export const createUploadBody = z
  .object({
    space: z.string().min(1).max(80),
    path,
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "sha256: 64 lower-case hex digits")
      .optional(),
    contentType: z.string().max(255).optional(),
  })
  .strict();

export const shareBody = z
  .object({
    expiresInSeconds: z.number().int().min(60),
    password: z.string().min(4).max(256).optional(),
  })
  .strict();

export const unlockBody = z.object({ password: z.string().min(1).max(256) }).strict();

export const quotaBody = z.object({ bytes: z.number().int().min(0).nullable() }).strict();

export const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(5000).default(1000) });
export const trashQuery = z.object({ space: z.string().min(1).max(80).default("me") });

// Answers (the OpenAPI document's response schemas; jsonRoute types each handler's c.json against them).

const metadata = z.record(z.string(), metadataValue);
export const fileNode = z
  .object({
    id: z.string(),
    space: z.string(),
    path: z.string(),
    name: z.string(),
    kind: z.enum(["file", "folder"]),
    size: z.number().int(),
    sha256: z.string().nullable(),
    contentType: z.string().nullable(),
    version: z.number().int(),
    metadata,
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    deletedAt: z.string().nullable(),
  })
  .openapi("FileNode");
export const nodeOut = z.object({ node: fileNode });
export const fileOut = z.object({ file: fileNode });
export const folderOut = z.object({ folder: fileNode });
export const listOut = z.object({ folder: fileNode.nullable(), items: z.array(fileNode) });
export const itemsOut = z.object({ items: z.array(fileNode) });
const usage = { usedBytes: z.number().int(), reservedBytes: z.number().int(), quotaBytes: z.number().int() };
export const spacesOut = z.object({
  spaces: z.array(z.object({ id: z.string(), kind: z.enum(["user", "team"]), name: z.string(), ...usage })),
});
export const quotaOut = z.object({ space: z.string(), ...usage });
export const versionsOut = z.object({
  versions: z.array(
    z
      .object({
        version: z.number().int(),
        sha256: z.string(),
        size: z.number().int(),
        contentType: z.string(),
        createdBy: z.string(),
        createdAt: z.string(),
      })
      .openapi("FileVersion"),
  ),
});
const uploadBase = {
  id: z.string(),
  space: z.string(),
  path: z.string(),
  size: z.number().int(),
  offset: z.number().int(),
  contentType: z.string(),
  createdAt: z.string(),
};
const liveUpload = z
  .object({
    ...uploadBase,
    sha256: z.string().nullable(),
    expiresAt: z.string(),
    complete: z.literal(false),
  })
  .openapi("Upload");
const finishedUpload = z
  .object({
    ...uploadBase,
    sha256: z.string(),
    finishedAt: z.string(),
    version: z.number().int(),
    complete: z.literal(true),
  })
  .openapi("FinishedUpload");
export const uploadOut = z.object({ upload: liveUpload });
export const uploadStatusOut = z.union([
  z.object({ upload: liveUpload }),
  z.object({ upload: finishedUpload, file: fileNode.nullable() }),
]);
const share = z
  .object({
    id: z.string(),
    nodeId: z.string(),
    url: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
    hasPassword: z.boolean(),
    revokedAt: z.string().nullable(),
    downloads: z.number().int(),
  })
  .openapi("Share");
export const shareOut = z.object({ share });
export const sharesOut = z.object({ shares: z.array(share) });
export const purgedOut = z.object({ purged: z.string() });
export const cancelledOut = z.object({ cancelled: z.string() });
