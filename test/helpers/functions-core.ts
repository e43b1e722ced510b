/**
 * A stand-in for the `@azure/functions-core` module that the Azure Functions worker injects into the
 * process: with it, `@azure/functions` leaves test mode and registers functions through its own code
 * path, and we see exactly what it registers. Install before `@azure/functions` is first loaded.
 */
import Module from 'node:module';
import path from 'node:path';

export interface RegisteredFunction {
  metadata: {
    name: string;
    bindings: Record<string, { type: string; direction: string; schedule?: string; runOnStartup?: boolean }>;
    retryOptions?: Record<string, unknown>;
  };
  callback: (...args: unknown[]) => Promise<unknown>;
}

export function installFunctionsCore(): RegisteredFunction[] {
  const registered: RegisteredFunction[] = [];
  const fakeCore = {
    registerFunction: (metadata: RegisteredFunction['metadata'], callback: RegisteredFunction['callback']) => {
      registered.push({ metadata, callback });
      return { dispose: () => undefined };
    },
    setProgrammingModel: () => undefined,
    getProgrammingModel: () => undefined,
    registerHook: () => ({ dispose: () => undefined }),
    log: () => undefined,
  };
  const fakePath = path.join(__dirname, '__functions-core__.js');
  require.cache[fakePath] = { id: fakePath, filename: fakePath, loaded: true, exports: fakeCore } as unknown as NodeJS.Module;
  const mod = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = mod._resolveFilename;
  mod._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === '@azure/functions-core' ? fakePath : original.call(this, request, ...rest);
  };
  return registered;
}
