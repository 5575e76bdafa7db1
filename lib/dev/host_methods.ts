/**
 * The one method of the dev host that is not an effect: `deno task rpc` tells it that an `init` it
 * sent succeeded, so that later sessions send init with kind null (no runtime sends it; the
 * `dev.` group is no effect's).
 * @module
 */

/** `dev.init-succeeded {}`: the service is installed. */
export const INIT_SUCCEEDED = "dev.init-succeeded";
