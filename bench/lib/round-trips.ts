/**
 * Real network round trips between rekey and Redis, counted in the client (ioredis), in this
 * process.
 *
 * A round trip is one request/response exchange on one connection: the client writes while it
 * waits for nothing on that connection, then waits for the answers. Every command ioredis sends
 * goes through `Redis.prototype.sendCommand` (a cluster's node connections too, and each command
 * of a pipeline or MULTI); a command written while the connection has no reply outstanding
 * starts a round trip, and one written while replies are still outstanding (the rest of a
 * pipeline, commands started together with `Promise.all`) rides along in it. So a pipeline is
 * one round trip (per node on a cluster), a Lua script is one (whatever it runs inside), and a
 * WAIT or an INFO is one like any other command.
 *
 * Why not the server's counters: `INFO commandstats` counts the commands run inside Lua too,
 * and MONITOR shows every command of a pipeline on its own line: neither sees pipelining.
 */
import { Redis } from 'ioredis';

interface Internals {
  status: string;
  commandQueue: { length: number };
}

export class RoundTripCounter {
  /** Round trips by the name of the command that started each one. */
  readonly byFirstCommand = new Map<string, number>();
  /** Every command sent (a pipeline's commands one by one; a script is one). */
  commands = 0;
  roundTrips = 0;
  private readonly ignored = new WeakSet<object>();
  private active = true;

  /** Patches ioredis once for this process; connections given to `ignore` are not counted. */
  static install(): RoundTripCounter {
    const counter = new RoundTripCounter();
    const proto = Redis.prototype as unknown as { sendCommand: (this: Internals, command: { name: string }, stream?: unknown) => unknown };
    const send = proto.sendCommand;
    proto.sendCommand = function (this: Internals, command: { name: string }, stream?: unknown) {
      if (counter.active && !counter.ignored.has(this) && this.status === 'ready') {
        counter.commands += 1;
        if (this.commandQueue.length === 0) {
          counter.roundTrips += 1;
          const name = command.name.toLowerCase();
          counter.byFirstCommand.set(name, (counter.byFirstCommand.get(name) ?? 0) + 1);
        }
      }
      return send.call(this, command, stream);
    };
    return counter;
  }

  /** Leaves a connection of the measurement's own (its INFO, its fences) out. */
  ignore(client: object): void {
    this.ignored.add(client);
  }

  snapshot(): { roundTrips: number; commands: number; byFirstCommand: Map<string, number> } {
    return { roundTrips: this.roundTrips, commands: this.commands, byFirstCommand: new Map(this.byFirstCommand) };
  }

  /** What happened since `before`. */
  since(before: ReturnType<RoundTripCounter['snapshot']>): { roundTrips: number; commands: number; byFirstCommand: Map<string, number> } {
    const by = new Map<string, number>();
    for (const [k, v] of this.byFirstCommand) {
      const d = v - (before.byFirstCommand.get(k) ?? 0);
      if (d > 0) by.set(k, d);
    }
    return { roundTrips: this.roundTrips - before.roundTrips, commands: this.commands - before.commands, byFirstCommand: by };
  }
}
