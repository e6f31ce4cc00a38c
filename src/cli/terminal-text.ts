// Text from the API or the audit store that the CLI prints to a terminal: a waiting
// statement, a recorded statement and its result, a trace id, a subject, an
// application_name. Much of it is chosen by whoever sent the statement (or by what the
// trace holds), and a terminal runs the control sequences in what it is given (ESC [ 3 A
// moves the cursor up and lets the text rewrite lines printed before it). Such characters
// are shown as escapes instead: C0 controls, DEL, C1 controls (a terminal may read 0x9b
// as ESC [), and the bidirectional overrides and isolates that reorder what is displayed.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// The same, but for text shown over several lines (a replayed statement): newline and tab
// stay. A carriage return does not: it lets the rest of a line overwrite its start.
const UNSAFE_KEEPING_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string, keepLines = false): string {
  return text.replace(keepLines ? UNSAFE_KEEPING_LINES : UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
