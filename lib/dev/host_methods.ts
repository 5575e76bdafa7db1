/**
 * The methods of the dev host that are not effects: `deno task rpc` tells it what StartOS knows
 * from driving the service itself (no runtime sends them; the `dev.` group is no effect's).
 * @module
 */

/** `dev.init-succeeded {}`: an init succeeded, the service is installed (later: kind null). */
export const INIT_SUCCEEDED = "dev.init-succeeded";

/** `dev.action-ran {actionId}`: the action ran without error; its tasks without `when` are done. */
export const ACTION_RAN = "dev.action-ran";
