/**
 * The program's events, read back from a transaction.
 *
 * Sparks emits its events with Anchor's `emit_cpi!`: each one is an inner
 * instruction the program sends to itself, whose data is Anchor's event tag,
 * the event's discriminator and its Borsh data. Logs can be truncated; inner
 * instructions are not, so this is what the indexer reads too.
 */
import { getBase58Encoder, type Address, type ReadonlyUint8Array } from '@solana/kit';
import { SPARKS_EVENTS, type SparksEvent } from './generated/events';
import { SPARKS_PROGRAM_ADDRESS } from './generated/programs';

export { SPARKS_EVENTS, type SparksEvent, type SparksEventMap, type SparksEventName } from './generated/events';

/** Anchor's `EVENT_IX_TAG` (0x1d9acb512ea545e4, little-endian): sha256("anchor:event")[..8]. */
export const EVENT_IX_TAG: ReadonlyUint8Array = new Uint8Array([0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d]);

const startsWith = (bytes: ReadonlyUint8Array, prefix: ReadonlyUint8Array, at = 0) =>
  bytes.length >= at + prefix.length && prefix.every((b, i) => bytes[at + i] === b);

/**
 * Decodes one self-CPI's instruction data; `null` when it is not an event
 * (or one this client does not know: a newer program).
 */
export function decodeSparksEvent(data: ReadonlyUint8Array): SparksEvent | null {
  if (!startsWith(data, EVENT_IX_TAG)) return null;
  for (const [name, { discriminator, decoder }] of Object.entries(SPARKS_EVENTS)) {
    if (startsWith(data, discriminator, EVENT_IX_TAG.length)) {
      const body = data.slice(EVENT_IX_TAG.length + discriminator.length);
      return { name, data: decoder.decode(body) } as SparksEvent;
    }
  }
  return null;
}

/** What {@link sparksEventsOf} reads of a `getTransaction` answer in `json` encoding. */
export type JsonTransaction = {
  readonly transaction: {
    readonly message: { readonly accountKeys: readonly (Address | string)[] };
  };
  readonly meta: {
    readonly err: unknown;
    readonly innerInstructions?:
      | readonly {
          readonly instructions: readonly { readonly programIdIndex: number; readonly data: string }[];
        }[]
      | null;
    readonly loadedAddresses?: {
      readonly writable: readonly (Address | string)[];
      readonly readonly: readonly (Address | string)[];
    } | null;
  } | null;
};

/**
 * Every Sparks event of a transaction, in the order the program emitted
 * them. A failed transaction emitted nothing: its inner instructions were
 * rolled back with it.
 */
export function sparksEventsOf(
  transaction: JsonTransaction,
  programAddress: Address = SPARKS_PROGRAM_ADDRESS,
): SparksEvent[] {
  const meta = transaction.meta;
  if (!meta || meta.err) return [];
  // Lookup-table addresses come after the message's own keys.
  const keys = [
    ...transaction.transaction.message.accountKeys,
    ...(meta.loadedAddresses?.writable ?? []),
    ...(meta.loadedAddresses?.readonly ?? []),
  ];
  const base58 = getBase58Encoder();
  const events: SparksEvent[] = [];
  for (const group of meta.innerInstructions ?? []) {
    for (const instruction of group.instructions) {
      if (keys[instruction.programIdIndex] !== programAddress) continue;
      const event = decodeSparksEvent(base58.encode(instruction.data));
      if (event) events.push(event);
    }
  }
  return events;
}
