/**
 * The program's refusals by name, and in words a person understands.
 *
 * A refusal reaches a client in several shapes: a @solana/kit `SolanaError`
 * from a failed simulation or send (the custom code somewhere in its
 * `cause` chain), or a transaction status's raw `err` such as
 * `{ InstructionError: [0, { Custom: 6017 }] }`. {@link sparksErrorOf}
 * reads them all.
 */
import { isSolanaError, SOLANA_ERROR__INSTRUCTION_ERROR__CUSTOM, type Address } from '@solana/kit';
import { SPARKS_ERRORS, type SparksErrorCode, type SparksErrorName } from './generated/errorNames';
import { SPARKS_PROGRAM_ADDRESS } from './generated/programs';

export { SPARKS_ERRORS, type SparksErrorCode, type SparksErrorName } from './generated/errorNames';

/** A refusal of the Sparks program. */
export type SparksRefusal = {
  code: SparksErrorCode;
  name: SparksErrorName;
  /** The program's own message. */
  message: string;
  /** What it means for the person who tried (falls back to the message). */
  words: string;
};

/** The refusals a wallet's owner can meet, said for them. */
const WORDS: Partial<Record<SparksErrorName, string>> = {
  Paused: 'Sparks is paused for maintenance; nothing was spent. Try again later.',
  InsufficientBalance: 'You do not have enough Sparks for this; nothing was spent.',
  PerkInactive: 'This perk is not offered any more; nothing was spent.',
  PerkSupplyExhausted: 'This perk is sold out; nothing was spent.',
  PerkWalletLimitReached: 'You have already claimed this perk as many times as it allows.',
  OutsideWindow: 'This is not open right now (outside its time window); nothing was spent.',
  CostAboveMax: 'The price changed since you saw it; nothing was spent. Look again and retry.',
  WhitelistInactive: 'This whitelist is closed.',
  WhitelistFull: 'This whitelist is full.',
  WalletSpotLimitReached: 'You already hold as many spots on this whitelist as it allows.',
  BelowJoinThreshold: 'You have not earned enough Sparks in total to join this whitelist yet.',
  AlreadyJoined: 'You have already joined this whitelist.',
  NoSpotsLeft: 'You have no whitelist spots left to use.',
  SelfReferral: 'A wallet cannot invite itself.',
  ReferralCycle: 'That wallet was invited by you (directly or through others), so it cannot be your referrer.',
  ReferrerAlreadySet: 'Your referrer is already set, and it cannot change.',
  SeqMismatch: 'Your Sparks changed while this was being signed; nothing was spent. Retry.',
};

/** The refusal for a custom error code, or `null` if it is not the program's. */
export function sparksRefusal(code: number): SparksRefusal | null {
  const known = (SPARKS_ERRORS as Record<number, { name: SparksErrorName; message: string }>)[code];
  if (!known) return null;
  return {
    code: code as SparksErrorCode,
    name: known.name,
    message: known.message,
    words: WORDS[known.name] ?? `Refused: ${known.message}.`,
  };
}

/** The failing instruction and custom code in a raw transaction error (`{ InstructionError: [i, { Custom: n }] }`). */
function customCodeOfRaw(err: unknown): { index: number; code: number } | null {
  if (!err || typeof err !== 'object') return null;
  const instruction = (err as { InstructionError?: unknown }).InstructionError;
  if (!Array.isArray(instruction) || instruction.length < 2) return null;
  const custom = (instruction[1] as { Custom?: unknown } | null)?.Custom;
  return typeof custom === 'number' || typeof custom === 'bigint'
    ? { index: Number(instruction[0]), code: Number(custom) }
    : null;
}

/**
 * The program's refusal in `error`, wherever it sits: a `SolanaError` (or
 * its causes), or a raw transaction error. `null` when the failure is not
 * the program's (network, wallet, fees...).
 *
 * Every Anchor program numbers its errors from 6000: given the
 * transaction's `instructions`, a custom code is read as Sparks' only when
 * the instruction that failed is one of Sparks' (`programAddress`).
 */
export function sparksErrorOf(
  error: unknown,
  instructions?: readonly { readonly programAddress: Address }[],
  programAddress: Address = SPARKS_PROGRAM_ADDRESS,
): SparksRefusal | null {
  const ours = (index: number) => !instructions || instructions[index]?.programAddress === programAddress;
  for (let e: unknown = error, depth = 0; e && depth < 8; depth++) {
    if (isSolanaError(e, SOLANA_ERROR__INSTRUCTION_ERROR__CUSTOM)) {
      return ours(e.context.index) ? sparksRefusal(Number(e.context.code)) : null;
    }
    const raw = customCodeOfRaw(e);
    if (raw !== null) return ours(raw.index) ? sparksRefusal(raw.code) : null;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}
