/** CloudEvents 1.0 envelopes (structured JSON mode) on subjects `nexus.<service>.<type>`. */
import { z } from "zod";

export const cloudEventSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  time: z.string().optional(),
  subject: z.string().optional(),
  datacontenttype: z.string().optional(),
  data: z.unknown().optional(),
});

export type CloudEvent<T = unknown> = z.infer<typeof cloudEventSchema> & { data?: T };

const TOKEN = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

/** The NATS subject an event of `type` from `service` travels on. */
export function eventSubject(service: string, type: string): string {
  if (!TOKEN.test(service) || service.includes("."))
    throw new Error(`invalid service name for subject: ${service}`);
  if (!TOKEN.test(type)) throw new Error(`invalid event type: ${type}`);
  return `nexus.${service}.${type}`;
}

/** Builds an envelope; `type` is the short type, the envelope carries the full `nexus.<service>.<type>`. */
export function makeEvent<T>(opts: {
  id: string;
  service: string;
  site: string;
  type: string;
  data: T;
  time?: string;
  subject?: string;
}): CloudEvent<T> {
  return {
    specversion: "1.0",
    id: opts.id,
    source: `/nexus/${opts.site}/${opts.service}`,
    type: eventSubject(opts.service, opts.type),
    time: opts.time ?? new Date().toISOString(),
    ...(opts.subject ? { subject: opts.subject } : {}),
    datacontenttype: "application/json",
    data: opts.data,
  };
}
