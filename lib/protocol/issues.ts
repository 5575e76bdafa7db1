/**
 * Validation issues as the answers print them, typed structurally so the shared types do not name
 * zod's (a `z.ZodError` is an `IssueList`, a zod schema an `InputSchema`).
 * @module
 */

/** One validation issue: where, and what is wrong. */
export interface Issue {
  /** The key path from the validated value's root (empty = the value itself). */
  readonly path: readonly PropertyKey[];
  /** What is wrong there. */
  readonly message: string;
}

/** What a failed validation reports. */
export interface IssueList {
  /** The issues, in the validator's order. */
  readonly issues: readonly Issue[];
}

/** A validator with zod's `safeParse` shape. */
export interface InputSchema {
  /**
   * Validates and transforms `input`.
   * @param input Any value.
   * @returns The transformed value, or the issues found.
   */
  safeParse(
    input: unknown,
  ): { success: true; data: unknown } | { success: false; error: IssueList };
}

/**
 * One line for a list of issues: `params.path: message` joined by `; `.
 * @param error The failed validation's issues (a `z.ZodError`, for instance).
 * @returns The issues, each prefixed with its path under `params`.
 */
export function describeIssues(error: IssueList): string {
  return error.issues.map((issue) => {
    const path = issue.path.length === 0 ? "params" : `params.${issue.path.join(".")}`;
    return `${path}: ${issue.message}`;
  }).join("; ");
}
