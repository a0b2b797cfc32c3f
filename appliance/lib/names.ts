/**
 * The name patterns every layer checks: site ids and service names. Both end up as NATS subject tokens,
 * folder and file names and URL segments, so they are lower-case ASCII, start with an alphanumeric and
 * contain no dots or slashes. Imports nothing: `appliance/lib` is below every other layer.
 */

/** A site id without anchors, for patterns that embed one (HLC timestamps). At most 63 characters. */
export const SITE_ID_SOURCE = "[a-z0-9][a-z0-9-]{0,62}";

/** A site id: names a box to the hub, its JetStream domain and the node of its HLC timestamps. */
export const SITE_ID = new RegExp(`^${SITE_ID_SOURCE}$`);

/** A service name: 2 to 32 characters, a letter first, no `-` last. */
export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
