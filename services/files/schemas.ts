/** Request schemas of the files API (zod; invalid input is a 400 before any handler runs). */
import { z } from "zod";

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
