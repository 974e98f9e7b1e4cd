/**
 * The program's refusals by name, and in words a person understands.
 *
 * A refusal reaches a client in several shapes: a @solana/kit `SolanaError`
 * from a failed simulation or send (the custom code somewhere in its
 * `cause` chain), or a transaction status's raw `err` such as
 * `{ InstructionError: [0, { Custom: 6017 }] }`. {@link sparksErrorOf}
 * reads them all.
 */
import {
  isSolanaError,
  SOLANA_ERROR__INSTRUCTION_ERROR__COMPUTATIONAL_BUDGET_EXCEEDED,
  SOLANA_ERROR__INSTRUCTION_ERROR__CUSTOM,
  SOLANA_ERROR__INSTRUCTION_ERROR__INSUFFICIENT_FUNDS,
  SOLANA_ERROR__TRANSACTION_ERROR__ACCOUNT_NOT_FOUND,
  SOLANA_ERROR__TRANSACTION_ERROR__BLOCKHASH_NOT_FOUND,
  SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_FEE,
  SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_RENT,
  type Address,
} from '@solana/kit';
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
  const refusal = refusalOf(error, instructions, programAddress);
  return refusal?.origin === 'program' ? sparksRefusal(refusal.code) : null;
}

/**
 * Any refusal a wallet's owner can cause, in words: the program's own
 * ({@link sparksErrorOf}), Anchor's framework checks inside a Sparks
 * instruction (codes below 6000, e.g. `AccountNotInitialized` for a wallet
 * that has never earned Sparks), and what the network refuses before the
 * program runs (no SOL for the fee). `origin` says which.
 */
export type Refusal = {
  origin: 'program' | 'framework' | 'network';
  code: number;
  name: string;
  words: string;
};

/** Anchor's checks a user of Sparks can trip, by code. */
const FRAMEWORK: Record<number, { name: string; words: string }> = {
  101: {
    name: 'InstructionFallbackNotFound',
    words: 'This app was built for another version of the Sparks program; nothing was spent.',
  },
  2000: {
    name: 'ConstraintMut',
    words: 'The transaction was built wrongly (an account not writable); nothing was spent.',
  },
  2006: {
    name: 'ConstraintSeeds',
    words: 'An account in the transaction is not the one Sparks keeps for you; nothing was spent.',
  },
  3001: { name: 'AccountDiscriminatorNotFound', words: 'An account in the transaction is empty; nothing was spent.' },
  3002: {
    name: 'AccountDiscriminatorMismatch',
    words: 'An account in the transaction is not the kind Sparks expects; nothing was spent.',
  },
  3007: {
    name: 'AccountOwnedByWrongProgram',
    words: 'An account in the transaction does not belong to Sparks; nothing was spent.',
  },
  3012: {
    name: 'AccountNotInitialized',
    words: 'You have no Sparks yet: a wallet gets its Sparks account with its first award. Nothing was spent.',
  },
};

/** What the network refuses before or around the program, by @solana/kit error code. */
const NETWORK: Record<number, { name: string; words: string }> = {
  [SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_FEE]: {
    name: 'InsufficientFundsForFee',
    words: 'Your wallet has no SOL to pay the network fee; nothing was spent.',
  },
  // The fee payer is unknown to the chain: a wallet that never held SOL.
  [SOLANA_ERROR__TRANSACTION_ERROR__ACCOUNT_NOT_FOUND]: {
    name: 'AccountNotFound',
    words: 'Your wallet has no SOL to pay the network fee; nothing was spent.',
  },
  [SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_RENT]: {
    name: 'InsufficientFundsForRent',
    words: "Your wallet does not have enough SOL for a new account's rent; nothing was spent.",
  },
  [SOLANA_ERROR__INSTRUCTION_ERROR__INSUFFICIENT_FUNDS]: {
    name: 'InsufficientFunds',
    words: "Your wallet does not have enough SOL for the fee and a new account's rent; nothing was spent.",
  },
  [SOLANA_ERROR__TRANSACTION_ERROR__BLOCKHASH_NOT_FOUND]: {
    name: 'BlockhashNotFound',
    words: 'It took too long between building and sending it; nothing was spent. Try again.',
  },
  [SOLANA_ERROR__INSTRUCTION_ERROR__COMPUTATIONAL_BUDGET_EXCEEDED]: {
    name: 'ComputationalBudgetExceeded',
    words: 'The app asked for too few compute units for this (a fault to report); nothing was spent.',
  },
};

/** The same failures as a transaction status's raw `err` names them. */
const RAW_NETWORK: Record<string, number> = {
  InsufficientFundsForFee: SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_FEE,
  AccountNotFound: SOLANA_ERROR__TRANSACTION_ERROR__ACCOUNT_NOT_FOUND,
  InsufficientFundsForRent: SOLANA_ERROR__TRANSACTION_ERROR__INSUFFICIENT_FUNDS_FOR_RENT,
  BlockhashNotFound: SOLANA_ERROR__TRANSACTION_ERROR__BLOCKHASH_NOT_FOUND,
};
const RAW_INSTRUCTION: Record<string, number> = {
  InsufficientFunds: SOLANA_ERROR__INSTRUCTION_ERROR__INSUFFICIENT_FUNDS,
  ComputationalBudgetExceeded: SOLANA_ERROR__INSTRUCTION_ERROR__COMPUTATIONAL_BUDGET_EXCEEDED,
};

function customRefusal(code: number): Refusal | null {
  const program = sparksRefusal(code);
  if (program) return { origin: 'program', code, name: program.name, words: program.words };
  const framework = FRAMEWORK[code];
  if (framework) return { origin: 'framework', code, ...framework };
  return code < 6000
    ? {
        origin: 'framework',
        code,
        name: `AnchorError${code}`,
        words: `The Sparks program refused the transaction (Anchor error ${code}); nothing was spent.`,
      }
    : null;
}

function networkRefusal(code: number): Refusal | null {
  const known = NETWORK[code];
  return known ? { origin: 'network', code, ...known } : null;
}

/** A raw transaction error (`{ InstructionError: [i, …] }`, `"InsufficientFundsForFee"`) as a refusal. */
function rawRefusal(err: unknown, ours: (index: number) => boolean): Refusal | null | undefined {
  if (typeof err === 'string') return RAW_NETWORK[err] === undefined ? undefined : networkRefusal(RAW_NETWORK[err]);
  // Some carry details: `{ "InsufficientFundsForRent": { "account_index": 2 } }`.
  if (err && typeof err === 'object') {
    const known = Object.keys(err).find((key) => RAW_NETWORK[key] !== undefined);
    if (known) return networkRefusal(RAW_NETWORK[known]!);
  }
  const instruction = (err as { InstructionError?: unknown } | null)?.InstructionError;
  if (!Array.isArray(instruction) || instruction.length < 2) return undefined;
  const [index, detail] = instruction as [number, unknown];
  if (typeof detail === 'string') {
    return RAW_INSTRUCTION[detail] === undefined ? null : networkRefusal(RAW_INSTRUCTION[detail]);
  }
  const custom = (detail as { Custom?: unknown } | null)?.Custom;
  if (typeof custom !== 'number' && typeof custom !== 'bigint') return null;
  return ours(Number(index)) ? customRefusal(Number(custom)) : null;
}

/**
 * The refusal in `error` a person can read, wherever it sits (a
 * `SolanaError` and its causes, a preflight failure, a raw status error);
 * `null` when it is none of these (the wallet, the connection...). Given the
 * transaction's `instructions`, a custom code counts only if the instruction
 * that failed is Sparks'.
 */
export function refusalOf(
  error: unknown,
  instructions?: readonly { readonly programAddress: Address }[],
  programAddress: Address = SPARKS_PROGRAM_ADDRESS,
): Refusal | null {
  const ours = (index: number) => !instructions || instructions[index]?.programAddress === programAddress;
  for (let e: unknown = error, depth = 0; e && depth < 8; depth++) {
    if (isSolanaError(e, SOLANA_ERROR__INSTRUCTION_ERROR__CUSTOM)) {
      return ours(e.context.index) ? customRefusal(Number(e.context.code)) : null;
    }
    if (isSolanaError(e) && NETWORK[e.context.__code] !== undefined) return networkRefusal(e.context.__code);
    const raw = rawRefusal(e, ours);
    if (raw !== undefined) return raw;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * A failure's message for a person: @solana/kit's production messages are
 * "Solana error #N; Decode this error by running npx …", which says nothing
 * to them; the code alone is kept (for support).
 */
export function plainMessage(error: unknown): string {
  if (isSolanaError(error)) return `Solana error ${error.context.__code}`;
  return error instanceof Error ? error.message : String(error);
}
