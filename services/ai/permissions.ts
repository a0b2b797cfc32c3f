/** The AI service's permissions and the built-in roles that hold them by default (admin holds `*`). */
import type { PermissionDeclarations } from "../../appliance/kit/index.js";

export const permissions = {
  "ai:read": {
    description: "List the installed models, their licences and the provider each loaded one runs on",
    roles: ["operator", "field-agent", "viewer"],
  },
  "ai:infer": {
    description:
      "Run the box's models: OCR, moderation, detection, voice activity, embeddings, generic inference",
    roles: ["operator", "field-agent"],
  },
  "ai:index": {
    description: "Add and remove texts in the semantic index",
    roles: ["operator"],
  },
  "ai:admin": { description: "Install, remove and pin model packs", roles: ["operator"] },
} satisfies PermissionDeclarations;
