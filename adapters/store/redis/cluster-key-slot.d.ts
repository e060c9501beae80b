/** The Redis Cluster slot calculator ioredis itself uses (it ships no types). */
declare module 'cluster-key-slot' {
  /** The cluster slot (0 … 16383) of a key, honouring its first `{…}` hash tag. */
  function calculateSlot(key: string | Buffer): number;
  namespace calculateSlot {
    /** The common slot of the keys, or -1 when they do not share one. */
    function generateMulti(keys: (string | Buffer)[]): number;
  }
  export = calculateSlot;
}
