import { PGlite } from "@electric-sql/pglite";

/**
 * One untouched PGlite cluster per run, as a dump every instance starts from: loading a
 * dump takes about a second, an initdb in WASM several (over ten on a busy machine).
 * The first `instance()` is the original cluster itself; later ones load the dump.
 */
export interface PgliteTemplate {
  dump: Blob;
  instance(): Promise<PGlite>;
}

let template: Promise<{ value: PgliteTemplate; close: () => Promise<void> }> | undefined;

export async function pgliteTemplate(): Promise<PgliteTemplate> {
  template ??= (async () => {
    const first = await PGlite.create();
    const dump = await first.dumpDataDir("none");
    let original: PGlite | undefined = first;
    return {
      value: {
        dump,
        async instance() {
          const taken = original;
          original = undefined;
          return taken ?? PGlite.create({ loadDataDir: dump });
        },
      },
      // Only the original can still be ours to close; the others belong to their takers.
      close: async () => {
        await original?.close();
        original = undefined;
      },
    };
  })();
  return (await template).value;
}

export async function closePgliteTemplate(): Promise<void> {
  const current = template;
  template = undefined;
  if (current)
    await current.then(
      (t) => t.close(),
      () => undefined,
    );
}
