/** Subject grammar of docs/protocol.md §2, checked before anything is sent. */

const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const SUBJECT_BYTES_MAX = 1024;

/**
 * Why `subject` is not a valid subject, in the gateway's words, or `null` if it is.
 * @param {unknown} subject
 * @returns {string | null}
 */
export function subjectProblem(subject) {
  if (typeof subject !== 'string' || !subject.startsWith('/')) {
    return "a subject must start with '/'";
  }
  if (new TextEncoder().encode(subject).length > SUBJECT_BYTES_MAX) {
    return 'a subject is at most 1024 bytes';
  }
  const segments = subject.slice(1).split('/');
  if (segments[0] === '') return 'the topic segment is empty';
  if (!TOPIC.test(segments[0])) {
    return 'topic names are 1 to 249 characters of [a-zA-Z0-9._-]';
  }
  const key = segments.slice(1);
  if (key.some((s) => s === '')) {
    return "a subject must not end with '/' or contain an empty segment";
  }
  if (key.some((s) => s === '*' || s === '>')) {
    return "'*' and '>' segments are wildcards, allowed only in permission patterns";
  }
  return null;
}
