// Runs of digits and the separators numbers are written with (space . - ( ) +), found
// once per scanned string and shared by the card, phone and IPv4 detectors. Every text
// those detectors match consists of these characters only, so each of their hits lies
// inside one maximal run: they need to look at runs with enough digits, not at the
// whole string. Trace text is full of short numbers (timestamps, counts, ids); one
// regex pass here replaces three.

export interface NumberRun {
  start: number;
  end: number;
  digits: number;
  dots: number;
  /** False when a prefilter pass (prefilter.ts) found this run cannot hold a phone number. */
  phone?: boolean;
}

// Seven characters at least: "1.2.3.4" is the shortest text any run detector matches.
const RUN = /[0-9+(][0-9 .()+-]{6,}/g;

export function findNumberRuns(s: string): NumberRun[] {
  const runs: NumberRun[] = [];
  RUN.lastIndex = 0;
  for (let m = RUN.exec(s); m !== null; m = RUN.exec(s)) {
    const start = m.index;
    const end = start + m[0].length;
    let digits = 0;
    let dots = 0;
    for (let i = start; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) digits++;
      else if (c === 0x2e) dots++;
    }
    if (digits >= 4) runs.push({ start, end, digits, dots });
  }
  return runs;
}

/**
 * Runs `re` (global) over one run's text, reporting each hit's start in `s`. The run is
 * matched on its own (a regex let loose on `s` from run.start would scan the rest of
 * the string for every run); hits cannot extend past a maximal run anyway.
 */
export function eachMatchInRun(re: RegExp, s: string, run: NumberRun, onMatch: (start: number, text: string) => void): void {
  const sub = s.slice(run.start, run.end);
  re.lastIndex = 0;
  for (let m = re.exec(sub); m !== null; m = re.exec(sub)) {
    onMatch(run.start + m.index, m[0]);
    if (m[0].length === 0) re.lastIndex++;
  }
}
