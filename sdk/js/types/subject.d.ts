/** Subject grammar of docs/protocol.md §2, checked before anything is sent. */
/**
 * Why `subject` is not a valid subject, in the gateway's words, or `null` if it is.
 * @param {unknown} subject
 * @returns {string | null}
 */
export declare function subjectProblem(subject: unknown): string | null;
