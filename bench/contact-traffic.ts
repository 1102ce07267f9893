/**
 * What the benchmark sends. Phones are unique per project, so every created contact gets
 * its own number: "1", a series digit (which phase made it), then a 9-digit counter.
 * That is an 11-digit E.164 number, stored as is.
 */
export type PhoneSeries = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

export function phoneSequence(series: PhoneSeries): () => string {
  let next = 0;
  return () => {
    next += 1;
    if (next >= 1e9) throw new Error("phone series exhausted");
    return `1${series}${String(next).padStart(9, "0")}`;
  };
}

export interface ContactBody {
  name: string;
  phone: string;
  email: string;
  tags: string[];
}

export const contactBody = (phone: string): ContactBody => ({
  name: `Bench Contact ${phone}`,
  phone: `+${phone}`,
  email: `c${phone}@bench.example`,
  tags: ["bench"],
});

/** Picks ids uniformly at random, so reads do not favour the newest rows. */
export function randomPick<T>(items: readonly T[]): () => T {
  if (items.length === 0) throw new Error("nothing to pick from");
  return () => items[Math.floor(Math.random() * items.length)] as T;
}
