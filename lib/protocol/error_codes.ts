/** StartOS host error kinds the runtime answers with (positive codes are the host's `ErrorKind`). */

/** Error kinds of the StartOS host, by name. */
export const ErrorKind = {
  Unknown: 1,
  NotFound: 6,
  Deserialization: 12,
  Authorization: 34,
  Action: 36,
  InvalidRequest: 38,
  Uninitialized: 40,
  Javascript: 59,
  Timeout: 71,
  Cancelled: 73,
} as const;
