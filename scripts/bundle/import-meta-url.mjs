// Injected into each bundle by scripts/bundle.mjs, where `define` replaces `import.meta.url` with this
// binding: ES module dependencies read `import.meta.url` (@azure/storage-common's CRC64 module), which a
// CommonJS bundle does not have; here it is the bundle file's own URL. esbuild's inject + define, as its
// maintainer recommends (evanw/esbuild#1492): unlike a banner, it is bundled after the "use strict" directive.
import { pathToFileURL } from 'node:url';

export const bundleImportMetaUrl = pathToFileURL(__filename).href;
