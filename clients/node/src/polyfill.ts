// Symbol.dispose / Symbol.asyncDispose exist in Node >= 20.4 and 18.18; older
// runtimes (and some bundlers' targets) lack them. Define them the way
// TypeScript's downlevelled `using` looks them up, before any class uses them.
const sym = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol };
if (typeof sym.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('Symbol.asyncDispose') });
}
if (typeof sym.dispose !== 'symbol') {
  Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('Symbol.dispose') });
}

export {};
